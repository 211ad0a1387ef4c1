"""What hack/local-cluster promises (docs/local-cluster.md), checked on the real control plane."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from reconciler.health import assess
from reconciler.phase import Phase
from tests.cluster.real import CRDS, ROOT, RealCluster, running_real_cluster
from tests.waiting import wait_for

needs_crds = pytest.mark.skipif(not CRDS.is_dir(), reason="the upstream CRDs are not present")


def run_kubectl(real: RealCluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(real.kubectl), f"--kubeconfig={real.kubeconfig_path}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def kubectl(real: RealCluster, *args: str) -> str:
    done = run_kubectl(real, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def healths(real: RealCluster, manifests: Path) -> dict[str, Phase]:
    """The health of every object in ``manifests``, as the reconciler would judge it."""
    live = json.loads(kubectl(real, "get", "-f", str(manifests), "-o", "json"))
    return {
        f"{obj['kind']}/{obj['metadata']['name']}": assess(obj).phase
        for obj in live.get("items", [live])
    }


def test_kubectl_lists_ready_fake_nodes(real_cluster):
    nodes = json.loads(kubectl(real_cluster, "get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 2
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


@needs_crds
def test_rendered_examples_apply_server_side_and_become_healthy(real_cluster, cluster, tmp_path):
    rendered = subprocess.run(
        [sys.executable, "-m", "reconciler", "render", str(ROOT / "examples" / "repo")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The real API server refuses the upstream SeldonDeployment CRD (the test below), so there
    # is no such kind to apply to.
    documents = [
        doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] != "SeldonDeployment"
    ]
    manifests = tmp_path / "rendered.yaml"
    manifests.write_text(yaml.safe_dump_all(documents))
    for namespace in {doc["metadata"]["namespace"] for doc in documents}:
        cluster.namespace(namespace)
    applied = kubectl(real_cluster, "apply", "--server-side", "-f", str(manifests))
    assert applied.count("serverside-applied") == len(documents)

    done = {Phase.READY, Phase.SUCCEEDED}
    found = wait_for(
        lambda: (h := healths(real_cluster, manifests)) and set(h.values()) <= done and h,
        90,
        0.5,
        what="every rendered object Ready or Succeeded",
    )
    kinds = {key.split("/")[0]: phase for key, phase in found.items()}
    assert kinds == {
        "Deployment": Phase.READY,
        "Service": Phase.READY,
        "Job": Phase.SUCCEEDED,
        "InferenceService": Phase.READY,
        "PyTorchJob": Phase.SUCCEEDED,
        "TrainJob": Phase.SUCCEEDED,
    }
    deployments = k8s.AppsV1Api(cluster.api_client()).list_deployment_for_all_namespaces()
    rendered_names = {d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"}
    available = {
        d.metadata.name
        for d in deployments.items
        if any(c.type == "Available" and c.status == "True" for c in d.status.conditions or [])
    }
    assert rendered_names <= available


@needs_crds
def test_the_upstream_seldon_crd_is_refused_by_a_real_api_server(real_cluster):
    crd = CRDS / "machinelearning.seldon.io_seldondeployments.yaml"
    done = run_kubectl(real_cluster, "apply", "--server-side", "--dry-run=server", "-f", str(crd))
    assert done.returncode != 0
    assert (
        "properties[graph].properties[children].items.type: Required value: "
        "must not be empty for specified array items"
    ) in done.stderr


def job(name: str, env: dict[str, str]) -> dict[str, Any]:
    container = {
        "name": "train",
        "image": "ghcr.io/acme/train:1.0",
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
        },
    }


def terminated(core: Any, namespace: str, job_name: str) -> Any:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job_name}").items
    states = [s.state.terminated for p in pods for s in p.status.container_statuses or []]
    return next((state for state in states if state is not None), None)


def test_job_pods_end_as_their_container_env_says(cluster):
    namespace = cluster.namespace()
    api = cluster.api_client()
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    metrics = '{"accuracy": 0.95}'
    batch.create_namespaced_job(namespace, job("metrics", {"KWOK_TERMINATION_MESSAGE": metrics}))
    batch.create_namespaced_job(
        namespace, job("fails", {"KWOK_EXIT_CODE": "3", "KWOK_TERMINATION_MESSAGE": "oom"})
    )

    def phase(name: str) -> Phase:
        return assess(
            api.sanitize_for_serialization(batch.read_namespaced_job(name, namespace))
        ).phase

    def finished(name: str) -> str | None:
        found = phase(name)
        return str(found) if found in (Phase.SUCCEEDED, Phase.FAILED) else None

    # The Job controller's own verdicts, from the pods kwok ended.
    assert wait_for(lambda: finished("metrics"), 30, 0.1, what="job metrics") == "Succeeded"
    assert wait_for(lambda: finished("fails"), 30, 0.1, what="job fails") == "Failed"
    good = terminated(core, namespace, "metrics")
    assert (good.exit_code, good.reason, good.message) == (0, "Completed", metrics)
    bad = terminated(core, namespace, "fails")
    assert (bad.exit_code, bad.reason, bad.message) == (3, "Error", "oom")


def _env(code: str) -> list[dict[str, str]]:
    return [{"name": "KWOK_EXIT_CODE", "value": code}]


def _container(code: str) -> dict[str, Any]:
    return {"name": "main", "image": "ghcr.io/acme/train:1.0", "env": _env(code)}


def pytorch_job(code: str) -> tuple[str, str, dict[str, Any]]:
    master = {
        "replicas": 1,
        "restartPolicy": "Never",
        "template": {"spec": {"containers": [_container(code)]}},
    }
    return "kubeflow.org", "v1", {"pytorchReplicaSpecs": {"Master": master}}


def ray_job(code: str) -> tuple[str, str, dict[str, Any]]:
    head = {"rayStartParams": {}, "template": {"spec": {"containers": [_container(code)]}}}
    return (
        "ray.io",
        "v1",
        {"entrypoint": "python train.py", "rayClusterSpec": {"headGroupSpec": head}},
    )


def train_job(code: str) -> tuple[str, str, dict[str, Any]]:
    spec = {"runtimeRef": {"name": "torch-distributed"}, "trainer": {"env": _env(code)}}
    return "trainer.kubeflow.org", "v1alpha1", spec


PLURALS = {"kubeflow.org": "pytorchjobs", "ray.io": "rayjobs", "trainer.kubeflow.org": "trainjobs"}
KINDS = {"kubeflow.org": "PyTorchJob", "ray.io": "RayJob", "trainer.kubeflow.org": "TrainJob"}


@needs_crds
@pytest.mark.parametrize("make", [pytorch_job, ray_job, train_job], ids=lambda f: f.__name__)
@pytest.mark.parametrize(("code", "ends"), [("0", "Succeeded"), ("2", "Failed")])
def test_training_custom_resources_reach_their_final_condition(cluster, make, code, ends):
    namespace = cluster.namespace()
    custom = k8s.CustomObjectsApi(cluster.api_client())
    group, version, spec = make(code)
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": KINDS[group],
        "metadata": {"name": "run"},
        "spec": spec,
    }
    custom.create_namespaced_custom_object(group, version, namespace, PLURALS[group], body)

    def status() -> dict[str, Any] | None:
        obj = custom.get_namespaced_custom_object(group, version, namespace, PLURALS[group], "run")
        conditions = (obj.get("status") or {}).get("conditions") or []
        finished = {"Succeeded", "Failed", "Complete"} & {
            c["type"] for c in conditions if c["status"] == "True"
        }
        done = finished or (obj.get("status") or {}).get("jobStatus") in ("SUCCEEDED", "FAILED")
        return obj if done else None

    obj = wait_for(status, 30, 0.1, what=f"{KINDS[group]} finished")
    assert str(assess(obj).phase) == ends
    conditions = {c["type"] for c in obj["status"].get("conditions") or [] if c["status"] == "True"}
    if group == "kubeflow.org":
        assert conditions == {"Created", ends}  # Running turned False when it finished
    if group == "trainer.kubeflow.org":
        assert conditions == {"Complete" if ends == "Succeeded" else "Failed"}


def _component_pids(directory: Path) -> dict[int, list[str]]:
    """Every process whose command line names ``directory``: the cluster's components."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if any(str(directory) in arg for arg in argv) and "up" not in argv:
                found[int(entry.name)] = argv
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_leaves_no_process_and_no_port_after_sigterm(real_cluster, tmp_path):
    directory = tmp_path / "second"
    with running_real_cluster(directory, "--nodes", "1", crds=False) as second:
        components = _component_pids(directory)
        names = {Path(argv[0]).name for argv in components.values()}
        assert names == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        etcd = next(argv for argv in components.values() if argv[0].endswith("etcd"))
        urls = [
            a.split("=", 1)[1]
            for a in etcd
            if a.startswith(("--listen-client-urls", "--listen-peer-urls"))
        ]
        ports = [int(second.server.rsplit(":", 1)[1])] + [int(u.rsplit(":", 1)[1]) for u in urls]
        assert all(_listening(port) for port in ports)
    # running_real_cluster sent SIGTERM and waited for `up`, which waits for its children.
    assert [argv[0] for pid, argv in components.items() if Path(f"/proc/{pid}").exists()] == []
    assert [port for port in ports if _listening(port)] == []
