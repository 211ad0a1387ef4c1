"""Status commit subjects for a canary step or a sweep trial: what happened, not only the phase."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import SpecStatus, StatusChange, commit_message

SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5"
SCORER = SpecKey("ModelDeployment", "ml", "scorer")
TUNE = SpecKey("TrainingJob", "ml", "tune-fraud")
REPLICAS = {"ready": 4, "desired": 4}


def check(step: int, weight: int, verdict: str) -> dict[str, Any]:
    metrics = {"request-success-rate": {"value": 1.0, "verdict": verdict}}
    return {"at": "t", "step": step, "weight": weight, "verdict": verdict, "metrics": metrics}


def analysis(
    phase: str, step: int, weight: int, checks: list[dict[str, Any]], failures: int = 0
) -> dict[str, Any]:
    return {
        "canaryHash": "5e0c1f4a9b2d",
        "phase": phase,
        "step": step,
        "weight": weight,
        "failures": failures,
        "startedAt": "t0",
        "since": "t1",
        "checks": checks,
    }


def serving(phase: Phase, record: dict[str, Any] | None) -> SpecStatus:
    extra: dict[str, Any] = {"replicas": REPLICAS}
    if record is not None:
        extra["analysis"] = record
    return SpecStatus(SHA, phase, "4/4 replicas ready", extra=extra)


def trial(index: int, phase: str, auc: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"trial": index, "parameters": {"eta": 0.1}, "run": f"r{index}"}
    entry["phase"] = phase
    if auc is not None:
        entry["metrics"] = {"auc": auc}
    return entry


def sweep(
    trials: list[dict[str, Any]], best: int | None = None, ended: str | None = None, id="991c6b34"
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": id,
        "algorithm": "grid",
        "objective": {"metric": "auc", "direction": "maximize"},
        "parallelism": 2,
        "trials": trials,
    }
    if best is not None:
        chosen = dict(next(t for t in trials if t["trial"] == best))
        chosen.pop("phase")
        record["best"] = chosen
    if ended is not None:
        record["ended"] = {"reason": ended, "message": "why"}
    return record


def training(phase: Phase, record: dict[str, Any]) -> SpecStatus:
    return SpecStatus(SHA, phase, "trials", extra={"sweep": record})


STEP_1 = analysis("Progressing", 1, 25, [])
STEP_2 = analysis("Progressing", 2, 50, [check(1, 25, "Pass")])
INCONCLUSIVE = analysis(
    "Progressing", 2, 50, [check(1, 25, "Pass"), check(2, 50, "Inconclusive")], failures=1
)
PROMOTED = analysis("Promoted", 2, 100, [check(1, 25, "Pass"), check(2, 50, "Pass")])
ROLLED_BACK = analysis("RolledBack", 1, 0, [check(1, 25, "Fail")], failures=1)
HELD = analysis("Held", 2, 50, [check(1, 25, "Pass"), check(2, 50, "Pass")])
NEW_CANARY = {**STEP_2, "canaryHash": "ffffffffffff", "step": 1, "weight": 25, "checks": []}

RUNNING = [trial(0, "Progressing"), trial(1, "Progressing"), trial(2, "Pending")]
ONE_DONE = [trial(0, "Succeeded", 0.93), trial(1, "Progressing"), trial(2, "Starting")]
TWO_DONE = [trial(0, "Succeeded", 0.93), trial(1, "Failed"), trial(2, "Progressing")]
ALL_DONE = [trial(0, "Succeeded", 0.93), trial(1, "Failed"), trial(2, "Succeeded", 0.95)]
METRICS_LATE = [trial(0, "Succeeded"), trial(1, "Progressing"), trial(2, "Pending")]


@pytest.mark.parametrize(
    ("before", "after", "subject"),
    [
        pytest.param(
            serving(Phase.READY, STEP_1),
            serving(Phase.READY, STEP_2),
            "scorer: canary 25% -> 50% at 1a2b3c4",
            id="step",
        ),
        pytest.param(
            serving(Phase.READY, STEP_2),
            serving(Phase.READY, INCONCLUSIVE),
            "scorer: canary check Inconclusive at 50%, 1 failed or inconclusive so far at 1a2b3c4",
            id="check-held-the-weight",
        ),
        pytest.param(
            serving(Phase.READY, STEP_2),
            serving(Phase.READY, PROMOTED),
            "scorer: canary 50% -> 100%, promoted after 2 checks at 1a2b3c4",
            id="promoted",
        ),
        pytest.param(
            serving(Phase.READY, STEP_2),
            serving(Phase.READY, HELD),
            "scorer: canary held at 50% after its last step at 1a2b3c4",
            id="held",
        ),
        pytest.param(
            serving(Phase.READY, STEP_1),
            serving(Phase.DEGRADED, ROLLED_BACK),
            "scorer: Degraded (canary rolled back at 25%) at 1a2b3c4",
            id="rolled-back-changes-the-phase",
        ),
        pytest.param(
            serving(Phase.READY, STEP_2),
            serving(Phase.READY, NEW_CANARY),
            "scorer: canary analysis started at 25% at 1a2b3c4",
            id="a-new-canary-starts-over",
        ),
        pytest.param(
            None,
            serving(Phase.PROGRESSING, STEP_1),
            "scorer: Progressing (canary analysis started at 25%) at 1a2b3c4",
            id="first-status",
        ),
        pytest.param(
            serving(Phase.READY, STEP_2),
            serving(Phase.DEGRADED, STEP_2),
            "scorer: Degraded (4/4 replicas) at 1a2b3c4",
            id="analysis-unchanged-keeps-the-usual-subject",
        ),
        pytest.param(
            serving(Phase.READY, None),
            serving(Phase.PROGRESSING, None),
            "scorer: Progressing (4/4 replicas) at 1a2b3c4",
            id="no-analysis",
        ),
    ],
)
def test_canary_subjects(before: SpecStatus | None, after: SpecStatus, subject: str) -> None:
    message = commit_message([StatusChange(SCORER, after, before)], SHA)
    assert message.splitlines()[0] == subject


@pytest.mark.parametrize(
    ("before", "after", "subject"),
    [
        pytest.param(
            training(Phase.PROGRESSING, sweep(RUNNING)),
            training(Phase.PROGRESSING, sweep(ONE_DONE, best=0)),
            "tune-fraud: trial 0 Succeeded (1/3 finished), best auc 0.93 at 1a2b3c4",
            id="trial-succeeded-outranks-trial-started",
        ),
        pytest.param(
            training(Phase.PROGRESSING, sweep(ONE_DONE, best=0)),
            training(Phase.PROGRESSING, sweep(TWO_DONE, best=0)),
            "tune-fraud: trial 1 Failed (2/3 finished), best auc 0.93 at 1a2b3c4",
            id="trial-failed",
        ),
        pytest.param(
            training(Phase.PROGRESSING, sweep(RUNNING)),
            training(Phase.PROGRESSING, sweep(TWO_DONE, best=0)),
            "tune-fraud: trials 0, 1 finished (2/3 finished), best auc 0.93 at 1a2b3c4",
            id="two-trials-at-once",
        ),
        pytest.param(
            training(Phase.PROGRESSING, sweep(METRICS_LATE)),
            training(Phase.PROGRESSING, sweep(ONE_DONE, best=0)),
            "tune-fraud: trial 0 Succeeded (1/3 finished), best auc 0.93 at 1a2b3c4",
            id="metrics-read-after-the-run-ended",
        ),
        pytest.param(
            training(Phase.PROGRESSING, sweep([trial(0, "Starting"), trial(1, "Pending")])),
            training(Phase.PROGRESSING, sweep([trial(0, "Progressing"), trial(1, "Starting")])),
            "tune-fraud: trial 1 started (0/2 finished) at 1a2b3c4",
            id="trial-started",
        ),
        pytest.param(
            training(Phase.PROGRESSING, sweep(TWO_DONE, best=0)),
            training(Phase.SUCCEEDED, sweep(ALL_DONE, best=2, ended="AllDone")),
            "tune-fraud: Succeeded (sweep ended AllDone, best auc 0.95) at 1a2b3c4",
            id="ended",
        ),
        pytest.param(
            training(Phase.SUCCEEDED, sweep(ALL_DONE, best=2, ended="AllDone")),
            training(Phase.PROGRESSING, sweep([trial(0, "Starting")], id="0000aaaa")),
            "tune-fraud: Progressing (grid sweep 0000aaaa of 1 trial started) at 1a2b3c4",
            id="a-new-sweep",
        ),
    ],
)
def test_sweep_subjects(before: SpecStatus, after: SpecStatus, subject: str) -> None:
    message = commit_message([StatusChange(TUNE, after, before)], SHA)
    assert message.splitlines()[0] == subject


def test_several_specs_keep_their_subject_and_tell_what_happened_in_the_body() -> None:
    changes = [
        StatusChange(SCORER, serving(Phase.READY, STEP_2), serving(Phase.READY, STEP_1)),
        StatusChange(
            TUNE,
            training(Phase.PROGRESSING, sweep(ONE_DONE, best=0)),
            training(Phase.PROGRESSING, sweep(RUNNING)),
        ),
    ]
    lines = commit_message(changes, SHA).splitlines()
    assert lines[0] == "2 specs changed at 1a2b3c4: scorer Ready, tune-fraud Progressing"
    assert lines[2:4] == [
        "- ModelDeployment/ml/scorer: Ready (canary 25% -> 50%): 4/4 replicas ready",
        "- TrainingJob/ml/tune-fraud: Progressing (trial 0 Succeeded (1/3 finished), "
        "best auc 0.93): trials",
    ]
