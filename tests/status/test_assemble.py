"""Assembling one spec's status from what a reconcile saw (pure)."""

from __future__ import annotations

from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome, assemble

NOW = "2026-01-01T00:00:00Z"


def finished_job(name: str) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "ml", "uid": "u1"},
        "status": {
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True", "reason": "Completed"}],
        },
    }


def test_a_run_created_in_this_reconcile_is_progressing_until_its_run_is_read() -> None:
    # The Job finished before the status was assembled, but the runs were read before it
    # existed: saying Succeeded here would be a Succeeded training job with no run.
    job = finished_job("train-t-0123abcd")
    outcome = Outcome(
        SpecKey("TrainingJob", "ml", "train-t"),
        "a" * 40,
        objects=[job],
        current=frozenset({job["metadata"]["name"]}),
        extra={"runs": []},
    )
    status = assemble(outcome, NOW)
    assert status.phase is Phase.PROGRESSING
    assert status.extra["runs"] == []


def test_a_known_current_run_gives_the_training_job_its_phase() -> None:
    job = finished_job("train-t-0123abcd")
    run = {"name": "train-t-0123abcd", "hash": "0123abcd", "phase": "Succeeded"}
    outcome = Outcome(
        SpecKey("TrainingJob", "ml", "train-t"),
        "a" * 40,
        objects=[job],
        current=frozenset({job["metadata"]["name"]}),
        extra={"runs": [run], "currentRun": run["name"]},
    )
    assert assemble(outcome, NOW).phase is Phase.SUCCEEDED
