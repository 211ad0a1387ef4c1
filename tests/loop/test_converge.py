"""Create, update, no-op, self-heal and prune, end to end through Git and the sandbox."""

from __future__ import annotations

import gc

import pygit2
import pytest
from kubernetes.client.rest import ApiException

from reconciler import labels
from reconciler.engine import loop as loop_module
from reconciler.inventory import ObjectRef
from tests.loop.harness import serving, training
from tests.waiting import wait_for

SPECS = {
    "models/a.yaml": serving("model-a", replicas=2),
    "models/b.yaml": serving("model-b"),
    "models/c.yaml": serving("model-c"),
    "training/t.yaml": training("train-t"),
}


def test_create_applies_objects_and_writes_status(loop):
    head = loop.commit(SPECS)
    loop.start()
    status = loop.wait_phase("ModelDeployment", "model-a", "Ready")
    deployment = loop.apps.read_namespaced_deployment("model-a", loop.namespace)
    assert deployment.metadata.labels[labels.MANAGED_BY] == "reconciler"
    assert deployment.metadata.annotations[labels.SOURCE_COMMIT] == head
    assert deployment.spec.replicas == 2
    assert loop.core.read_namespaced_service("model-a", loop.namespace).spec.ports[0].port == 80
    assert status["observedCommit"] == head
    assert status["replicas"] == {"desired": 2, "ready": 2}
    assert {r["kind"] for r in status["resources"]} == {"Deployment", "Service"}
    trained = loop.wait_phase("TrainingJob", "train-t", "Succeeded")
    assert trained["runs"][0]["phase"] == "Succeeded"
    repository = loop.status_files()["repository.yaml"].decode()
    assert f"sourceCommit: {head}" in repository


def test_update_changes_only_the_changed_spec(loop):
    first = loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "model-b", "Ready")
    second = loop.commit({"models/a.yaml": serving("model-a", replicas=3)})
    wait_for(
        lambda: loop.apps.read_namespaced_deployment("model-a", loop.namespace).spec.replicas == 3,
        what="replicas 3",
    )
    a = loop.apps.read_namespaced_deployment("model-a", loop.namespace)
    b = loop.apps.read_namespaced_deployment("model-b", loop.namespace)
    assert a.metadata.annotations[labels.SOURCE_COMMIT] == second
    # model-b did not change in the second commit: its objects keep the first commit.
    assert b.metadata.annotations[labels.SOURCE_COMMIT] == first
    wait_for(lambda: loop.status("ModelDeployment", "model-a")["observedCommit"] == second)
    assert loop.status("ModelDeployment", "model-b")["observedCommit"] == first


@pytest.mark.sandbox_only("counts requests with the sandbox's counters")
def test_nothing_to_do_makes_no_api_request_and_no_status_commit(loop):
    loop.commit(SPECS)
    loop.start()
    for name in ("model-a", "model-b", "model-c"):
        loop.wait_phase("ModelDeployment", name, "Ready")
    loop.wait_phase("TrainingJob", "train-t", "Succeeded")
    loop.idle()
    commits = loop.status_commits()
    engine = loop.service.engine
    done = engine.reconciles
    loop.sandbox.reset_counters()
    engine.trigger("resync")
    wait_for(lambda: engine.reconciles > done, what="a full resync")
    loop.idle()
    counters = {k: v for k, v in loop.sandbox.counters().items() if not k.startswith("watch")}
    assert counters == {}
    assert loop.status_commits() == commits


def test_hand_drift_is_reverted_and_reported(loop):
    loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "model-a", "Ready")
    loop.apps.patch_namespaced_deployment_scale(
        "model-a", loop.namespace, {"spec": {"replicas": 5}}, field_manager="kubectl-scale"
    )
    wait_for(
        lambda: loop.apps.read_namespaced_deployment("model-a", loop.namespace).spec.replicas == 2,
        timeout=5,
        what="drift reverted",
    )
    reverted = wait_for(
        lambda: (loop.status("ModelDeployment", "model-a") or {}).get("driftReverted"),
        what="drift reported in status",
    )
    assert "spec.replicas" in reverted[0]


def test_removed_spec_is_pruned_with_its_status_file(loop):
    loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "model-c", "Ready")
    loop.commit({"models/c.yaml": None}, "retire model-c")

    def gone() -> bool:
        try:
            loop.apps.read_namespaced_deployment("model-c", loop.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, what="model-c pruned")
    wait_for(lambda: loop.status("ModelDeployment", "model-c") is None, what="status removed")
    assert loop.apps.read_namespaced_deployment("model-a", loop.namespace)


def test_status_branch_named_in_reconciler_yaml(loop):
    loop.commit({**SPECS, "reconciler.yaml": "statusBranch: ml-status\n"})
    loop.start()
    repo = pygit2.Repository(str(loop.remote.bare))
    wait_for(
        lambda: repo.references.get("refs/heads/ml-status") is not None,
        what="status written to the configured branch",
    )
    assert repo.references.get("refs/heads/status") is None


def test_the_resync_timer_replans_a_spec_whose_objects_changed(loop):
    loop.commit(SPECS)
    service = loop.start(resync_interval=0.5, interval=0.5)
    loop.wait_phase("ModelDeployment", "model-b", "Ready")
    loop.idle()
    # A cached copy that differs from the spec, with a new resourceVersion: no event queued.
    engine = service.engine
    cached = next(
        obj
        for obj in engine.cluster.objects.owned_by(("ModelDeployment", loop.namespace, "model-b"))
        if obj["kind"] == "Deployment"
    )
    stale = {**cached, "spec": {**cached["spec"], "replicas": 9}}
    engine.cluster.objects.record(
        {**stale, "metadata": {**cached["metadata"], "resourceVersion": "0"}}
    )
    wait_for(
        lambda: engine.cluster.objects.get(ObjectRef.from_object(cached))["spec"]["replicas"] == 1,
        what="the resync re-applied the spec",
    )


def test_what_the_first_reconcile_built_is_left_out_of_later_collections(loop):
    loop.commit({"models/m.yaml": serving("model-a")})
    loop.start()
    loop.idle()
    # Once per process: an earlier engine in this worker may have frozen first.
    assert gc.get_freeze_count() > 0


def collections_during(loop, change: str) -> list[tuple[int, int]]:
    """(generation, frozen objects) of each collection that began while ``change`` went live."""
    began: list[tuple[int, int]] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            began.append((info["generation"], gc.get_freeze_count()))

    gc.callbacks.append(record)
    try:
        loop.commit({"models/m.yaml": serving(change)})
        wait_for(lambda: any(g == 2 for g, _ in began), what="a collection before the refreeze")
        loop.idle()
    finally:
        gc.callbacks.remove(record)
    return began


def test_what_later_reconciles_built_is_frozen_again_after_a_collection(loop, monkeypatch):
    monkeypatch.setattr(loop_module, "REFREEZE_EVERY", 0.0)  # instead of a minute's wait
    loop.commit({"models/m.yaml": serving("model-a")})
    loop.start()
    loop.idle()
    built_since = [object()]  # tracked by the collector, like a new cache entry

    began = collections_during(loop, "model-b")

    # The minute's collection walks what is not frozen yet: the heap stays frozen meanwhile.
    assert all(frozen > 0 for generation, frozen in began if generation == 2)
    assert not any(o is built_since for o in gc.get_objects())  # frozen: no longer walked


def test_the_hourly_collection_unfreezes_the_heap_first(loop, monkeypatch):
    monkeypatch.setattr(loop_module, "REFREEZE_EVERY", 0.0)
    monkeypatch.setattr(loop_module, "FULL_COLLECTION_EVERY", 0.0)  # instead of an hour's wait
    loop.commit({"models/m.yaml": serving("model-a")})
    loop.start()
    loop.idle()

    began = collections_during(loop, "model-b")

    # Frozen reference cycles that became garbage can only be found with nothing frozen.
    assert (2, 0) in began
    assert gc.get_freeze_count() > 0  # and what lives on is frozen again
