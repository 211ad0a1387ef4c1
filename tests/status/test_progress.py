"""Where an analysis or a sweep stands, in the one line ``reconciler status`` shows."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.status.progress import progress


def analysis(phase: str, step: int, weight: int) -> dict[str, Any]:
    return {"analysis": {"canaryHash": "h", "phase": phase, "step": step, "weight": weight}}


def sweep(phases: list[str], best: float | None = None, ended: str | None = None):
    record: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "trials": [{"trial": i, "phase": phase} for i, phase in enumerate(phases)],
    }
    if best is not None:
        record["best"] = {"trial": 1, "metrics": {"loss": best}}
    if ended is not None:
        record["ended"] = {"reason": ended, "message": "why"}
    return {"sweep": record}


@pytest.mark.parametrize(
    ("extra", "summary"),
    [
        (analysis("Progressing", 1, 10), "canary Progressing at 10% (step 1)"),
        (analysis("Promoted", 3, 100), "canary Promoted at 100%"),
        (analysis("RolledBack", 1, 0), "canary RolledBack at 0%"),
        (analysis("Held", 3, 50), "canary Held at 50%"),
        (sweep(["Starting", "Pending"]), "sweep 0/2 finished, 1 running"),
        (
            sweep(["Succeeded", "Succeeded", "Skipped"], best=0.25, ended="GoalReached"),
            "sweep 2/3 finished, best trial 1 (loss 0.25), ended GoalReached",
        ),
        (sweep(["Failed"], ended="AllDone"), "sweep 1/1 finished, ended AllDone"),
    ],
)
def test_summary(extra: dict[str, Any], summary: str) -> None:
    found = progress(extra)
    assert found is not None and found["summary"] == summary


def test_nothing_for_a_spec_without_either() -> None:
    assert progress({"replicas": {"ready": 1, "desired": 1}, "runs": []}) is None
