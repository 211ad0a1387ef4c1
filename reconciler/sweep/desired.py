"""What a sweep spec wants in the cluster now: the trials that exist or start, and what stays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.lifecycle import Run
from reconciler.specs.models import TrainingJob
from reconciler.sweep.progress import kept_runs, progress
from reconciler.sweep.report import sweep_status
from reconciler.sweep.trials import plan_sweep


def sweep_desired(
    training: TrainingJob,
    rendered: Sequence[dict[str, Any]],
    runs: Sequence[Run],
    pinned: Iterable[str],
) -> tuple[list[dict[str, Any]], set[str], dict[str, Any]]:
    """``(objects, kept, extra)``: of every rendered trial, those with a run or starting now;
    the names of older runs to keep; and the status fields (``runs`` and ``sweep``)."""
    sweep = training.spec.sweep
    assert sweep is not None
    plan = plan_sweep(training)
    found = progress(plan, sweep.objective, sweep.parallelism, runs)
    wanted = {state.trial.name for state in found.trials if state.run is not None}
    wanted |= {trial.name for trial in found.start}
    objects = [obj for obj in rendered if obj["metadata"]["name"] in wanted]
    keep = kept_runs(runs, plan.id, training.spec.history_limit, pinned) - wanted
    extra = {
        "runs": [run.as_status() for run in runs if run.name in keep or run.name in wanted],
        "sweep": sweep_status(training, plan, found),
    }
    return objects, keep, extra
