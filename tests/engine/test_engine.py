"""The engine driven through its stages with fakes: each reconcile runs in milliseconds."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from reconciler.engine import Engine, Trigger
from reconciler.engine import desire as desire_module
from reconciler.engine import reconcile as reconcile_module
from reconciler.specs.loaded import SpecKey
from tests.engine.fakes import (
    NAMESPACE,
    FakeClock,
    FakeCluster,
    FakeStatusWriter,
    Repository,
    engine,
    serving,
    training,
)
from tests.waiting import wait_for


@dataclass
class World:
    repository: Repository
    cluster: FakeCluster
    status: FakeStatusWriter
    clock: FakeClock
    engine: Engine

    def reconcile(self, reason: str = "commit") -> None:
        self.clock.advance(1)
        self.engine.reconcile([Trigger(reason)])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    repository = Repository(tmp_path)
    cluster, status, clock = FakeCluster(), FakeStatusWriter(), FakeClock()
    made = engine(repository, cluster, status, clock)
    made.start()
    yield World(repository, cluster, status, clock, made)
    made.stop()


def specs(*names: str) -> dict[str, str]:
    return {f"models/{name}.yaml": serving(name) for name in names}


def test_construction_does_no_io(tmp_path: Path) -> None:
    cluster, status = FakeCluster(), FakeStatusWriter()
    engine(Repository(tmp_path), cluster, status, FakeClock())
    assert cluster.writer.calls == []
    assert status.commits == []


def test_a_cold_cycle_applies_and_reports(world: World) -> None:
    head = world.repository.commit(specs("fraud", "churn"))
    world.engine.reconcile([Trigger("start")])
    assert world.cluster.names("Deployment") == ["churn", "fraud"]
    assert world.cluster.names("Service") == ["churn", "fraud"]
    assert ("namespace", "ml") in world.cluster.writer.calls
    fraud = world.status.status("ModelDeployment", "fraud")
    assert fraud is not None
    assert (fraud["phase"], fraud["observedCommit"]) == ("Ready", head)
    # The injected clock, not the machine's, dates the condition.
    assert fraud["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert world.status.repository()["sourceCommit"] == head


def test_a_no_op_cycle_sends_nothing(world: World) -> None:
    world.repository.commit(specs("fraud", "churn"))
    world.reconcile("start")
    world.reconcile("resync")  # the status of what the first cycle created settles
    calls, commits = len(world.cluster.writer.calls), len(world.status.commits)
    world.reconcile("resync")
    world.reconcile("poll")
    assert world.cluster.writer.calls[calls:] == []
    assert len(world.status.commits) == commits


@pytest.mark.parametrize("wave", [1, reconcile_module.WAVE])
def test_a_removed_spec_is_pruned_last(world: World, wave: int, monkeypatch) -> None:
    monkeypatch.setattr(reconcile_module, "WAVE", wave)
    world.repository.commit(specs("fraud", "churn"))
    world.reconcile("start")
    world.cluster.writer.calls.clear()
    files = specs("fraud")
    files["models/fraud.yaml"] = serving("fraud", image="registry.example/serve:2")
    world.repository.commit(files)
    world.reconcile()
    writes = world.cluster.writer.writes
    assert ("delete", "churn") in writes
    first_delete = min(i for i, (verb, _) in enumerate(writes) if verb == "delete")
    assert all(verb == "apply" for verb, _ in writes[:first_delete])
    assert all(verb == "delete" for verb, _ in writes[first_delete:])
    assert ("apply", "fraud") in writes[:first_delete]
    assert world.cluster.names("Deployment") == ["fraud"]
    assert world.status.status("ModelDeployment", "churn") is None


def test_a_broken_reconciler_yaml_changes_nothing(world: World) -> None:
    world.repository.commit(specs("fraud", "churn"))
    world.reconcile("start")
    world.cluster.writer.calls.clear()
    broken = {"reconciler.yaml": "defaultNamespace: [not, a, name]\n", **specs("fraud")}
    tip = world.repository.commit(broken)
    world.reconcile()
    assert world.cluster.writer.writes == []
    assert world.cluster.names("Deployment") == ["churn", "fraud"]
    assert world.engine.state.config_error is not None
    assert tip[:7] in world.engine.state.config_error
    repository = world.status.repository()
    assert repository["sourcePhase"] == "Failed"
    assert "reconciler.yaml" in repository["sourceMessage"]


@pytest.mark.parametrize("wave", [1, reconcile_module.WAVE])
def test_the_guard_holds_a_mass_prune(world: World, wave: int, monkeypatch) -> None:
    # In waves of one spec, the guard still judges every wave's prunes together.
    monkeypatch.setattr(reconcile_module, "WAVE", wave)
    world.repository.commit(specs("a", "b", "c", "d"))
    world.reconcile("start")
    world.cluster.writer.calls.clear()
    held = world.repository.commit(specs("a"))
    world.reconcile()
    assert [verb for verb, _ in world.cluster.writer.writes if verb == "delete"] == []
    assert world.cluster.names("Deployment") == ["a", "b", "c", "d"]
    guard = world.status.repository()["pruneGuard"]
    assert guard["held"] is True
    assert guard["commit"] == held
    assert "would delete 6 of 8 managed objects" in guard["reason"]
    # Removed specs keep their status while their objects stay.
    assert world.status.status("ModelDeployment", "b") is not None


def test_specs_are_planned_and_applied_in_waves_training_first(world: World, monkeypatch) -> None:
    monkeypatch.setattr(reconcile_module, "WAVE", 2)
    runs = {f"training/{name}.yaml": training(name) for name in ("t1", "t2")}
    world.repository.commit({**specs("a", "b", "c"), **runs})
    world.reconcile("start")
    calls = world.cluster.writer.calls
    verbs = [verb for verb, _ in calls]
    # A wave is applied before the next one is looked at: its desired objects can go.
    assert verbs.index("apply") < len(verbs) - 1 - verbs[::-1].index("lookup")
    applied = [name for verb, name in calls if verb == "apply"]
    serving_from = min(applied.index(name) for name in "abc")
    assert all(i < serving_from for i, name in enumerate(applied) if name.startswith("t"))
    assert world.cluster.names("Deployment") == ["a", "b", "c"]
    for name in "abc":
        assert world.status.status("ModelDeployment", name)["phase"] == "Ready"
    for name in ("t1", "t2"):
        assert world.status.status("TrainingJob", name) is not None


def test_a_run_that_finishes_while_its_server_is_planned_is_not_missed(
    world: World, monkeypatch
) -> None:
    """The runs read for the training spec serve the serving spec planned after it: a Job that
    finishes in between must not leave the serving spec settled on what it did not read."""
    world.repository.commit(
        {
            "training/t.yaml": training("t", output="s3://models/t/{run}/model.joblib"),
            "models/m.yaml": serving("m", model={"fromTraining": {"name": "t"}}),
        }
    )
    world.reconcile("start")
    assert world.cluster.names("Deployment") == []  # waits for a succeeded run
    (job,) = (o for ref, o in world.cluster.store.items() if ref.kind == "Job")
    original = desire_module.desire

    def desire_then_finish(cycle, key, *rest):  # the watch event lands mid-plan
        desired = original(cycle, key, *rest)
        if key.kind == "TrainingJob":
            job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
            job["metadata"]["resourceVersion"] += "-finished"
        return desired

    monkeypatch.setattr(desire_module, "desire", desire_then_finish)
    trained = SpecKey("TrainingJob", NAMESPACE, "t")
    world.engine.reconcile([Trigger("watch", trained)])  # planned before the Job finished
    monkeypatch.setattr(desire_module, "desire", original)
    world.engine.reconcile([Trigger("watch", trained)])  # the finish's own event
    assert world.cluster.names("Deployment") == ["m"]
    assert world.status.status("ModelDeployment", "m")["phase"] == "Ready"


def test_a_failed_apply_of_one_spec_does_not_stop_the_others(world: World) -> None:
    world.cluster.writer.fail = {"fraud"}
    world.repository.commit(specs("fraud", "churn"))
    world.reconcile("start")
    assert "churn" in world.cluster.names("Deployment")
    fraud = world.status.status("ModelDeployment", "fraud")
    churn = world.status.status("ModelDeployment", "churn")
    assert fraud is not None and churn is not None
    assert fraud["phase"] == "Failed"
    assert fraud["conditions"][0]["reason"] == "ApplyFailed"
    assert churn["phase"] == "Ready"


def test_a_bug_in_one_spec_is_logged_not_reported_as_render_failed(world: World) -> None:
    world.cluster.kinds.crash_on = {"Job"}
    world.repository.commit({"training/train.yaml": training("train"), **specs("fraud")})
    with capture_logs() as logs:
        world.reconcile("start")
    crashed = [entry for entry in logs if entry["event"] == "spec_plan_crashed"]
    assert [entry["error"] for entry in crashed] == ["RuntimeError"]
    assert world.status.status("TrainingJob", "train") is None  # not RenderFailed
    assert world.cluster.names("Deployment") == ["fraud"]
    assert world.engine.last_error is None  # the reconcile itself went on


class SlowStatusWriter(FakeStatusWriter):
    """A status branch whose every commit takes 0.1 s of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.fail_next = False

    def write(self, files: Mapping[str, bytes], message: str) -> str:
        self.clock.advance(0.1)
        if self.fail_next:
            self.fail_next = False
            raise OSError("failed to write out file: No space left on device")
        return super().write(files, message)


def held_back(tmp_path: Path) -> tuple[Engine, SlowStatusWriter, FakeClock]:
    """An engine whose last status change waits for its commit: it came 0.1 s after a commit
    that took 0.1 s."""
    repository, cluster, clock = Repository(tmp_path), FakeCluster(), FakeClock()
    status = SlowStatusWriter(clock)
    made = engine(repository, cluster, status, clock)
    made.start()
    repository.commit(specs("fraud"))
    made.reconcile([Trigger("start")])
    assert len(status.commits) == 1
    # Its pods go away.
    (live,) = (o for o in cluster.store.values() if o["kind"] == "Deployment")
    live["status"].update(readyReplicas=0, availableReplicas=0)
    live["metadata"]["resourceVersion"] += "-down"
    made.reconcile([Trigger("watch", SpecKey("ModelDeployment", "ml", "fraud"))])
    assert len(status.commits) == 1 and made.book.pending
    return made, status, clock


def test_a_status_commit_held_back_by_pacing_goes_out_without_another_trigger(
    tmp_path: Path,
) -> None:
    made, status, clock = held_back(tmp_path)
    worker = threading.Thread(target=made.run_forever, daemon=True)
    worker.start()
    try:
        # The loop's own start reconcile keeps holding it: the fake clock has not moved.
        wait_for(lambda: made.reconciles >= 3, timeout=10, what="the loop's first reconcile")
        assert len(status.commits) == 1
        clock.advance(1)  # no trigger comes; the loop wakes for the commit it owes
        wait_for(lambda: len(status.commits) == 2, timeout=10, what="the held-back commit")
    finally:
        made.stop()
        worker.join(10)
    fraud = yaml.safe_load(status.commits[-1][0]["ml/modeldeployment/fraud.yaml"])
    assert fraud["phase"] == "Progressing"


def test_a_held_back_commit_that_fails_is_retried_and_the_loop_goes_on(tmp_path: Path) -> None:
    made, status, clock = held_back(tmp_path)
    status.fail_next = True  # the disk is full when the loop writes it
    worker = threading.Thread(target=made.run_forever, daemon=True)
    worker.start()
    try:
        wait_for(lambda: made.reconciles >= 3, timeout=10, what="the loop's first reconcile")
        clock.advance(1)
        wait_for(lambda: made.failures == 1, timeout=10, what="the failed write counted")
        assert worker.is_alive() and len(status.commits) == 1
        clock.advance(2)  # past the retry's backoff
        wait_for(lambda: len(status.commits) == 2, timeout=10, what="the write retried")
        assert worker.is_alive() and made.last_error is None
    finally:
        made.stop()
        worker.join(10)
