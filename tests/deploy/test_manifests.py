"""deploy/: valid for Kubernetes 1.33, renders with kustomize, is accepted by an API server, and
runs the reconciler the way docs/installing.md says (non-root, read-only, probes, HA)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, NAMESPACE, by_kind, kubectl

KUBERNETES_VERSION = "1.33.0"
SOURCE_FILES = sorted(DEPLOY.glob("*.yaml"))


def test_every_file_is_listed_or_is_the_secret_template():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {path.name for path in SOURCE_FILES} - {"kustomization.yaml"}
    assert files - listed == {"secret.example.yaml"}
    assert listed <= files


@pytest.mark.parametrize(
    "path", [p for p in SOURCE_FILES if p.name != "kustomization.yaml"], ids=lambda p: p.name
)
def test_manifest_validates_strictly(path: Path):
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_rendered_output_validates_strictly(documents):
    assert {doc["kind"] for doc in documents} == {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert document["metadata"]["namespace"] == NAMESPACE


def test_nothing_carries_the_label_the_reconciler_prunes_by(documents):
    from reconciler import labels

    for document in documents:
        assert labels.MANAGED_BY not in (document["metadata"].get("labels") or {})


def test_the_pod_is_locked_down_and_probed(documents):
    (deployment,) = by_kind(documents, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "reconciler"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"--in-cluster", "--metrics-port=8080", "--leader-elect"} <= set(container["args"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert set(container["resources"]["requests"]) == set(container["resources"]["limits"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/cache/reconciler"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/reconciler/git"]]["secret"]["secretName"] == "reconciler-git"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["RECONCILER_LEADER_IDENTITY"]["value"] == "$(POD_NAME)"
    (config,) = by_kind(documents, "ConfigMap")
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert all(key.startswith("RECONCILER_") for key in config["data"])
    assert config["data"]["RECONCILER_CACHE_DIR"] == "/var/cache/reconciler"
    credentials = "/etc/reconciler/git/"
    assert config["data"]["RECONCILER_TOKEN_FILE"].startswith(credentials)


def test_settings_named_in_the_config_map_exist():
    """Every RECONCILER_* key is a setting of `reconciler run`, or one being added with HA."""
    from reconciler.config import OPTIONS

    documents = yaml.safe_load_all((DEPLOY / "configmap.yaml").read_text())
    (config,) = [doc for doc in documents if doc]
    known = {option.env for option in OPTIONS} | {"RECONCILER_WEBHOOK_SECRET_FILE"}
    assert set(config["data"]) <= known


def test_the_secret_template_matches_the_mounts():
    (secret,) = [d for d in yaml.safe_load_all((DEPLOY / "secret.example.yaml").read_text()) if d]
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert set(secret["stringData"]) == {"token", "ssh-privatekey", "known_hosts", "webhook-secret"}
    config = yaml.safe_load((DEPLOY / "configmap.yaml").read_text())["data"]
    assert Path(config["RECONCILER_TOKEN_FILE"]).name in secret["stringData"]
    assert Path(config["RECONCILER_WEBHOOK_SECRET_FILE"]).name in secret["stringData"]


def test_the_service_reaches_the_pods(documents):
    (service,) = by_kind(documents, "Service")
    (deployment,) = by_kind(documents, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["port"] == 8080


def test_server_side_apply_to_a_sandbox_is_accepted(sandbox, documents, tmp_path):
    from reconciler.cluster.client import KubeClient
    from reconciler.cluster.discovery import Discovery

    discovery = Discovery(KubeClient(sandbox.api_client()))
    served = [d for d in documents if discovery.served(d["apiVersion"], d["kind"])]
    # The sandbox emulates the kinds reconciler itself uses; a PodDisruptionBudget is not one.
    assert {d["kind"] for d in documents} - {d["kind"] for d in served} <= {"PodDisruptionBudget"}
    manifest = tmp_path / "reconciler.yaml"
    manifest.write_text(yaml.safe_dump_all(served))
    command = [
        kubectl(),
        f"--kubeconfig={sandbox.kubeconfig_path}",
        f"--cache-dir={tmp_path / 'cache'}",
        "apply",
        "--server-side",
        f"--filename={manifest}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/reconciler serverside-applied" in result.stdout
    # A second apply of the same manifests changes nothing and is accepted as well.
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
