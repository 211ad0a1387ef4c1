"""Which trials start, which is best and why a sweep ends: from the runs alone, table-driven."""

from __future__ import annotations

import pytest

from reconciler.lifecycle import Run
from reconciler.specs.models.sweep import Objective
from reconciler.sweep.progress import (
    ALL_DONE,
    BUDGET,
    GOAL_REACHED,
    kept_runs,
    progress,
    promotion_order,
)
from reconciler.sweep.trials import plan_sweep
from tests.sweep.specs import sweep_spec

PLAN = plan_sweep(sweep_spec())  # 6 trials
NAMES = [trial.name for trial in PLAN.trials]
MAXIMIZE = Objective(metric="auc", direction="maximize")


def run(
    index: int,
    phase: str = "Succeeded",
    auc: float | None = None,
    *,
    read: bool = True,
    sweep: str | None = PLAN.id,
    name: str | None = None,
    created: str | None = None,
) -> Run:
    trial = PLAN.trials[index] if index >= 0 else None
    return Run(
        name=name or (trial.name if trial else f"old-{index}"),
        hash="h",
        phase=phase,
        reason="",
        output_uri=f"s3://m/{index}",
        source_commit=None,
        created=created or f"2026-01-01T00:00:{index:02d}Z",
        metrics={"auc": auc} if auc is not None else None,
        metrics_read=read,
        sweep=sweep,
        trial=dict(trial.annotation()) if trial and sweep else None,
    )


# (runs, parallelism, objective, indexes started now, end reason, best index)
CASES = {
    "fresh sweep starts the first trials in order": ([], 2, MAXIMIZE, [0, 1], None, None),
    "a running trial holds its slot": ([run(0, "Progressing")], 2, MAXIMIZE, [1], None, None),
    "full slots start nothing": (
        [run(0, "Progressing"), run(1, "Pending")],
        2,
        MAXIMIZE,
        [],
        None,
        None,
    ),
    "finished trials free their slots": (
        [run(0, auc=0.8), run(1, "Failed"), run(2, "Progressing")],
        2,
        MAXIMIZE,
        [3],
        None,
        0,
    ),
    "metrics not read yet hold the slot": (
        [run(0, auc=0.8, read=False)],
        1,
        MAXIMIZE,
        [],
        None,
        None,
    ),
    "an older sweep's running run counts against parallelism": (
        [run(-1, "Progressing", sweep="0ld5weep")],
        2,
        MAXIMIZE,
        [0],
        None,
        None,
    ),
    "the goal ends the sweep early": (
        [run(0, auc=0.8), run(1, auc=0.96), run(2, "Progressing")],
        2,
        Objective(metric="auc", direction="maximize", goal=0.95),
        [],
        GOAL_REACHED,
        1,
    ),
    "minimize ranks the lowest first": (
        [run(i, auc=v) for i, v in enumerate([0.5, 0.2, 0.3, 0.2, 0.9, 0.4])],
        2,
        Objective(metric="auc", direction="minimize"),
        [],
        ALL_DONE,
        1,
    ),
    "every trial finished covers the space": (
        [run(i, auc=0.1 * i) for i in range(6)],
        3,
        MAXIMIZE,
        [],
        ALL_DONE,
        5,
    ),
}


@pytest.mark.parametrize(
    ("runs", "parallelism", "objective", "start", "ended", "best"), CASES.values(), ids=CASES.keys()
)
def test_progress(
    runs: list[Run],
    parallelism: int,
    objective: Objective,
    start: list[int],
    ended: str | None,
    best: int | None,
) -> None:
    found = progress(PLAN, objective, parallelism, runs)
    assert [trial.index for trial in found.start] == start
    assert (found.ended[0] if found.ended else None) == ended
    assert (found.best.trial.index if found.best else None) == best
    running = sum(1 for r in runs if not r.finished or not r.metrics_read)
    assert running + len(found.start) <= max(parallelism, running)


def test_budget_ends_a_sweep_that_did_not_cover_the_space() -> None:
    plan = plan_sweep(sweep_spec(max_trials=2))
    runs = [run(0, auc=0.5), run(1, auc=0.6)]
    found = progress(plan, MAXIMIZE, 2, runs)
    assert found.ended is not None and found.ended[0] == BUDGET
    assert found.ended[1] == "2 trials finished: maxTrials reached"


def test_trials_never_started_are_skipped_once_the_sweep_ends() -> None:
    goal = Objective(metric="auc", direction="maximize", goal=0.5)
    found = progress(PLAN, goal, 2, [run(0, auc=0.7)])
    assert [state.phase for state in found.trials] == ["Succeeded"] + ["Skipped"] * 5
    assert found.ended is not None
    assert found.ended[1] == "trial 0 reached auc 0.7 >= goal 0.5"


def test_kept_runs_keep_the_current_sweep_and_the_newest_earlier_sweeps() -> None:
    runs = [
        run(0, auc=0.1, created="2026-01-03T00:00:00Z"),
        run(-1, sweep="bbbbbbbb", name="b-1", created="2026-01-02T00:00:02Z"),
        run(-1, sweep="bbbbbbbb", name="b-2", created="2026-01-02T00:00:01Z"),
        run(-1, sweep=None, name="plain", created="2026-01-01T12:00:00Z"),
        run(-1, sweep="aaaaaaaa", name="a-1", created="2026-01-01T00:00:00Z"),
        run(-1, "Progressing", sweep="zzzzzzzz", name="z-1", created="2025-12-01T00:00:00Z"),
    ]
    assert kept_runs(runs, PLAN.id, 2, pinned=["a-1"]) == {
        NAMES[0],
        "b-1",
        "b-2",  # the newest earlier sweep, whole
        "plain",  # a run outside a sweep counts as one
        "a-1",  # served
        "z-1",  # still running
    }


def test_promotion_prefers_the_best_trial_of_the_newest_sweep() -> None:
    runs = [  # newest first, as runs_from gives them
        run(2, auc=0.7, created="2026-01-01T00:00:03Z"),
        run(1, auc=0.9, created="2026-01-01T00:00:02Z"),
        run(0, auc=0.8, created="2026-01-01T00:00:01Z"),
        run(-1, auc=0.99, sweep=None, name="before-the-sweep", created="2025-01-01T00:00:00Z"),
    ]
    ordered = [r.name for r in promotion_order(runs)]
    assert ordered == [NAMES[1], NAMES[0], NAMES[2], "before-the-sweep"]
