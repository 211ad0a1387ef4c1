"""Prune last: old objects go only after their replacements applied and serve (finding 5: a
renamed spec's new Deployment failed to apply and the old one was deleted anyway)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.loop.harness import Loop, running_loop, serving
from tests.waiting import wait_for

SPECS = {
    "models/a.yaml": serving("model-a"),
    "models/b.yaml": serving("model-b"),
    "models/fraud.yaml": serving("fraud-v1"),
}


@pytest.fixture
def loop(tmp_path, cluster) -> Iterator[Loop]:
    with running_loop(tmp_path, cluster) as running:
        yield running


def deployments(loop: Loop) -> set[str]:
    return {d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items}


@pytest.mark.sandbox_only("makes the new Deployment's apply fail")
def test_a_rename_keeps_the_old_object_serving_until_the_new_one_is_ready(loop):
    loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "fraud-v1", "Ready")
    loop.idle()
    loop.sandbox.inject_fault(
        verb="patch", resource="deployments", name="fraud-v2", status=422, count=None
    )
    head = loop.commit({"models/fraud.yaml": serving("fraud-v2")}, "rename fraud-v1")
    loop.reconciled(head)
    failed = loop.wait_phase("ModelDeployment", "fraud-v2", "Failed")
    assert failed["conditions"][0]["reason"] == "ApplyFailed"
    loop.idle()
    assert "fraud-v1" in deployments(loop)
    serving_v1 = loop.apps.read_namespaced_deployment("fraud-v1", loop.namespace)
    assert serving_v1.status.ready_replicas == 1
    guard = yaml.safe_load(loop.status_files()["repository.yaml"])["pruneGuard"]
    assert guard["held"] is False
    assert guard["reason"].startswith("waiting for replacements to become ready")
    assert guard["waitingFor"] == [f"ModelDeployment/{loop.namespace}/fraud-v2"]
    assert loop.status("ModelDeployment", "fraud-v1")["phase"] == "Ready"
    # The fault goes; the next reconcile applies v2, and once it is Ready v1 goes.
    loop.sandbox.clear_faults()
    loop.service.engine.trigger("resync")
    loop.wait_phase("ModelDeployment", "fraud-v2", "Ready")
    wait_for(lambda: "fraud-v1" not in deployments(loop), what="fraud-v1 pruned")
    wait_for(lambda: loop.status("ModelDeployment", "fraud-v1") is None, what="status removed")
    assert deployments(loop) == {"model-a", "model-b", "fraud-v2"}
    wait_for(
        lambda: yaml.safe_load(loop.status_files()["repository.yaml"])["pruneGuard"] is None,
        what="nothing waits any more",
    )


def test_a_removal_alone_is_pruned_at_once(loop):
    loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "fraud-v1", "Ready")
    loop.reconciled(loop.commit({"models/fraud.yaml": None}, "retire fraud"))
    wait_for(lambda: "fraud-v1" not in deployments(loop), what="fraud-v1 pruned")
