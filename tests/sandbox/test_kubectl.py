"""kubectl against the sandbox: the requests kubectl really makes, end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox.core import Sandbox
from reconciler.sandbox.testing import running_sandbox
from tests.sandbox.conftest import deployment

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


class Kubectl:
    def __init__(self, sandbox: Sandbox, cache_dir: Path) -> None:
        assert sandbox.kubeconfig_path is not None
        self.base = [
            "kubectl",
            "--kubeconfig",
            str(sandbox.kubeconfig_path),
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
        loaded = kubectl("apply", "--server-side", "-f", str(crds_dir))
        assert loaded.stdout.count("serverside-applied") == 4
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
