"""kubectl against the sandbox: the requests kubectl really makes, end to end."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import running_sandbox
from tests.sandbox.conftest import deployment

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


class Kubectl:
    def __init__(self, sandbox: Sandbox | Path, cache_dir: Path) -> None:
        kubeconfig = sandbox if isinstance(sandbox, Path) else sandbox.kubeconfig_path
        assert kubeconfig is not None
        self.base = [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(cache_dir),
        ]

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=30
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}"
            )
        return done


@pytest.fixture(scope="session")
def kubectl(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(sandbox, tmp_path_factory.mktemp("kubectl-cache"))


def manifest(namespace: str, replicas: int = 2) -> str:
    body = deployment("web", replicas=replicas)
    body["metadata"]["namespace"] = namespace
    return yaml.safe_dump(body)


def test_apply_get_wait_rollout_delete(kubectl: Kubectl, namespace: str) -> None:
    applied = kubectl("apply", "--server-side", "-f", "-", stdin=manifest(namespace))
    assert "deployment.apps/web serverside-applied" in applied.stdout
    kubectl("wait", "--for=condition=Available", "deployment/web", "-n", namespace, "--timeout=10s")
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=10s")
    live = json.loads(kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout)
    assert live["spec"]["replicas"] == 2 and live["status"]["availableReplicas"] == 2
    assert "deleted" in kubectl("delete", "deployment", "web", "-n", namespace).stdout
    missing = kubectl("get", "deployment", "web", "-n", namespace, check=False)
    assert missing.returncode == 1 and "NotFound" in missing.stderr


def test_diff_server_side(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "--server-side", "-f", "-", stdin=manifest(namespace))
    same = kubectl("diff", "--server-side", "-f", "-", stdin=manifest(namespace), check=False)
    assert same.returncode == 0, same.stderr
    changed = kubectl(
        "diff", "--server-side", "-f", "-", stdin=manifest(namespace, replicas=5), check=False
    )
    assert changed.returncode == 1 and "+  replicas: 5" in changed.stdout


def test_strict_validation_error(kubectl: Kubectl, namespace: str) -> None:
    body = yaml.safe_load(manifest(namespace))
    body["spec"]["foo"] = 1
    rejected = kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(body),
        check=False,
    )
    assert rejected.returncode == 1
    assert 'strict decoding error: unknown field "spec.foo"' in rejected.stderr
    warned = kubectl(
        "apply", "--server-side", "--validate=warn", "-f", "-", stdin=yaml.safe_dump(body)
    )
    assert 'unknown field "spec.foo"' in warned.stderr


def test_get_watch_ends_with_request_timeout(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "create",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": namespace},
            }
        ),
    )
    watched = kubectl(
        "get", "configmaps", "-n", namespace, "-w", "--request-timeout=1s", check=False
    )
    assert "cm" in watched.stdout


def test_upstream_crds_and_custom_resource(crds_dir: Path, tmp_path: Path) -> None:
    with running_sandbox() as sandbox:
        kubectl = Kubectl(sandbox, tmp_path / "cache")
        too_big = kubectl(
            "apply", "-f", str(crds_dir / "kubeflow.org_pytorchjobs.yaml"), check=False
        )
        assert too_big.returncode == 1
        assert "metadata.annotations: Too long: must have at most 262144 bytes" in too_big.stderr
        loaded = kubectl("apply", "--server-side", "-f", str(crds_dir), check=False)
        # Refused as kube-apiserver refuses it: the upstream Seldon CRD is not structural.
        assert loaded.returncode == 1
        assert (
            'The CustomResourceDefinition "seldondeployments.machinelearning.seldon.io" is '
            "invalid: spec.validation.openAPIV3Schema.properties[spec].properties[predictors]"
            ".items.properties[graph].properties[children].items.type: Required value: must not "
            "be empty for specified array items"
        ) in loaded.stderr
        assert loaded.stdout.count("serverside-applied") == len(list(crds_dir.glob("*.yaml"))) - 1
        isvc = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "sk", "namespace": "default"},
            "spec": {
                "predictor": {
                    "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://b/m"}
                }
            },
        }
        kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(isvc))
        live = json.loads(kubectl("get", "isvc", "sk", "-o", "json").stdout)
        assert live["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m"


# kubectl's imperative commands: the typed ones (create namespace|deployment|configmap|secret|
# service|job) send protobuf bodies; scale, label, set env and rollout restart send patches. The
# same commands run against the sandbox and the real control plane must leave the same objects.
IMPERATIVE = [
    ("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"),
    ("scale", "deployment", "web", "--replicas=3"),
    ("label", "deployment", "web", "tier=front"),
    ("set", "env", "deployment/web", "MODE=fast"),
    ("rollout", "restart", "deployment/web"),
    ("create", "configmap", "cfg", "--from-literal=a=b"),
    ("create", "secret", "generic", "sec", "--from-literal=x=y"),
    ("create", "service", "clusterip", "web", "--tcp=80:8080"),
    ("create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi"),
]
EXPECTED = {
    "namespace": {"phase": "Active", "finalizers": ["kubernetes"]},
    "deployment": {
        "replicas": 3,
        "labels": {"app": "web", "tier": "front"},
        "selector": {"matchLabels": {"app": "web"}},
        "containers": [
            {
                "env": [{"name": "MODE", "value": "fast"}],
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "name": "nginx",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "restarted": True,
        "managers": [
            "kubectl",
            "kubectl-create",
            "kubectl-label",
            "kubectl-rollout",
            "kubectl-set",
        ],
    },
    "configmap": {"a": "b"},
    "secret": {"type": "Opaque", "data": {"x": "eQ=="}},
    "service": {
        "type": "ClusterIP",
        "selector": {"app": "web"},
        "ports": [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}],
    },
    "job": {"image": "busybox:1.36", "command": ["echo", "hi"], "restartPolicy": "Never"},
}


def imperative_outcome(kubectl: Kubectl, namespace: str) -> dict[str, object]:
    """Run the imperative commands in a new namespace; what they left, in the fields that matter."""
    assert f"namespace/{namespace} created" in kubectl("create", "namespace", namespace).stdout
    for command in IMPERATIVE:
        kubectl("-n", namespace, *command)

    def get(*what: str) -> dict:
        return json.loads(kubectl("get", *what, "-n", namespace, "-o", "json").stdout)

    ns = json.loads(kubectl("get", "namespace", namespace, "-o", "json").stdout)
    web = get("deployment", "web", "--show-managed-fields")
    template = web["spec"]["template"]
    secret = get("secret", "sec")
    service = get("service", "web")["spec"]
    job = get("job", "once")["spec"]["template"]["spec"]
    return {
        "namespace": {"phase": ns["status"]["phase"], "finalizers": ns["spec"]["finalizers"]},
        "deployment": {
            "replicas": web["spec"]["replicas"],
            "labels": web["metadata"]["labels"],
            "selector": web["spec"]["selector"],
            "containers": template["spec"]["containers"],
            "restarted": "kubectl.kubernetes.io/restartedAt"
            in template["metadata"].get("annotations", {}),
            "managers": sorted(
                {entry["manager"] for entry in web["metadata"]["managedFields"]}
                - {"kube-controller-manager", "reconciler-sandbox"}
            ),
        },
        "configmap": get("configmap", "cfg")["data"],
        "secret": {"type": secret["type"], "data": secret["data"]},
        "service": {k: service[k] for k in ("type", "selector", "ports")},
        "job": {
            "image": job["containers"][0]["image"],
            "command": job["containers"][0]["command"],
            "restartPolicy": job["restartPolicy"],
        },
    }


def test_imperative_commands_on_the_sandbox(kubectl: Kubectl) -> None:
    assert imperative_outcome(kubectl, f"imp-{secrets.token_hex(3)}") == EXPECTED


def test_imperative_commands_on_the_real_control_plane(real_cluster, tmp_path: Path) -> None:
    real = Kubectl(real_cluster.kubeconfig_path, tmp_path / "cache")
    namespace = f"imp-{secrets.token_hex(3)}"
    try:
        assert imperative_outcome(real, namespace) == EXPECTED
    finally:
        real("delete", "namespace", namespace, "--wait=false", check=False)
