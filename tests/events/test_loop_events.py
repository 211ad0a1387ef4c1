"""The running loop posts Events that ``kubectl events --for`` shows for a spec's Deployment.

The reconciler posts through events.k8s.io/v1; ``kubectl events`` reads core/v1 Events with a
field selector on the involved object. Both clusters serve the two versions from one store, so
the same command finds the Events on the sandbox and on the real control plane.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.fixtures import Cluster
from tests.loop.harness import Loop, serving
from tests.waiting import wait_for


def kubectl_events(cluster: Cluster, cache: Path, namespace: str, deployment: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    command = [
        *("--kubeconfig", str(cluster.kubeconfig_path), "--cache-dir", str(cache)),
        *("events", "-n", namespace, "--for", f"deployment/{deployment}", "-o", "json"),
    ]
    done = subprocess.run([kubectl, *command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert all(item["involvedObject"]["name"] == deployment for item in items)
    return [item for item in items if item.get("reportingComponent") == "reconciler"]


def test_kubectl_lists_the_reconcilers_events_for_a_specs_deployment(loop: Loop, tmp_path):
    loop.commit({"models/a.yaml": serving("model-a")})
    service = loop.start()
    loop.wait_phase("ModelDeployment", "model-a", "Ready", timeout=60)
    loop.apps.patch_namespaced_deployment_scale(
        "model-a", loop.namespace, {"spec": {"replicas": 4}}, field_manager="kubectl-scale"
    )

    def reasons() -> set[str]:
        found = kubectl_events(loop.cluster, tmp_path / "kube-cache", loop.namespace, "model-a")
        return {item["reason"] for item in found} >= {"Created", "DriftReverted"} and found

    found = wait_for(reasons, timeout=60, interval=0.5, what="Created and DriftReverted events")
    notes = {item["reason"]: item["message"] for item in found}
    assert notes["Created"].startswith("ModelDeployment/model-a at ")
    # The field that drifted, not the value someone set.
    assert notes["DriftReverted"].split("drifted: ")[1] == "spec.replicas"
    instance = service.settings.instance()
    assert all((item.get("reportingInstance") or "") == instance for item in found)
