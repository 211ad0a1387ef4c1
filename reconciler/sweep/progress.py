"""How far a sweep has come, from its trial list and the runs that exist; pure.

Parallelism counts every run of the spec that is busy (running, or succeeded with its metrics
not read yet), whichever sweep made it: what the cluster runs, not what a process remembers,
so restarts and leader changes start nothing twice. A sweep ends when a trial reaches the goal
(GoalReached), or once every trial has finished: AllDone when they covered the whole space,
Budget when maxTrials stopped it first. Trials still running when it ends run to completion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.lifecycle import Run
from reconciler.specs.models.sweep import Objective
from reconciler.sweep.trials import SweepPlan, Trial

GOAL_REACHED = "GoalReached"
BUDGET = "Budget"
ALL_DONE = "AllDone"


@dataclass(frozen=True)
class TrialState:
    trial: Trial
    run: Run | None
    phase: str  # Pending | Starting | Progressing | Succeeded | Failed | Skipped
    value: float | None = None  # the objective metric, once read from a succeeded run

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "trial": self.trial.index,
            "parameters": dict(self.trial.parameters),
            "run": self.trial.name,
            "phase": self.phase,
        }
        if self.run is not None and self.run.metrics:
            entry["metrics"] = dict(sorted(self.run.metrics.items()))
        if self.run is not None and self.phase == "Failed" and self.run.reason:
            entry["reason"] = self.run.reason
        return entry


@dataclass(frozen=True)
class SweepProgress:
    trials: tuple[TrialState, ...]
    start: tuple[Trial, ...]  # trials to create in this reconcile, in order
    busy: int  # runs of the spec occupying a slot before this reconcile starts any
    best: TrialState | None
    ended: tuple[str, str] | None  # (reason, message)

    @property
    def running(self) -> int:
        return sum(1 for state in self.trials if state.phase in ("Progressing", "Starting"))


def busy(run: Run) -> bool:
    """A run holds a slot until it has finished and, when it succeeded, its metrics are read:
    only then can the sweep tell whether it reached the goal."""
    return not run.finished or (run.phase == "Succeeded" and not run.metrics_read)


def objective_value(run: Run | None, metric: str) -> float | None:
    if run is None or run.phase != "Succeeded" or not run.metrics_read or not run.metrics:
        return None
    return run.metrics.get(metric)


def better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def reaches(value: float, goal: float, direction: str) -> bool:
    return value >= goal if direction == "maximize" else value <= goal


def progress(
    plan: SweepPlan, objective: Objective, parallelism: int, runs: Sequence[Run]
) -> SweepProgress:
    """Each trial's state, the best so far, whether the sweep ended, and what starts now."""
    by_name = {run.name: run for run in runs}
    states = []
    best: TrialState | None = None
    for trial in plan.trials:
        run = by_name.get(trial.name)
        value = objective_value(run, objective.metric)
        state = TrialState(trial, run, run.phase if run is not None else "Pending", value)
        states.append(state)
        if value is not None and (
            best is None or best.value is None or better(value, best.value, objective.direction)
        ):
            best = state
    occupied = sum(1 for run in runs if busy(run))
    ended = _ended(plan, objective, states, best, by_name)
    start: list[Trial] = []
    if ended is None:
        free = max(0, parallelism - occupied)
        start = [state.trial for state in states if state.run is None][:free]
    starting = {trial.name for trial in start}
    final = []
    for state in states:
        if state.trial.name in starting:
            state = TrialState(state.trial, None, "Starting")
        elif state.run is None and ended is not None:
            state = TrialState(state.trial, None, "Skipped")
        final.append(state)
    return SweepProgress(tuple(final), tuple(start), occupied, best, ended)


def _ended(
    plan: SweepPlan,
    objective: Objective,
    states: Sequence[TrialState],
    best: TrialState | None,
    runs: Mapping[str, Run],
) -> tuple[str, str] | None:
    metric = objective.metric
    if best is not None and objective.goal is not None:
        assert best.value is not None
        if reaches(best.value, objective.goal, objective.direction):
            sign = ">=" if objective.direction == "maximize" else "<="
            return (
                GOAL_REACHED,
                f"trial {best.trial.index} reached {metric} {best.value:g} {sign} goal "
                f"{objective.goal:g}",
            )
    if any(state.run is None or busy(state.run) for state in states):
        return None
    done = f"{len(states)} trial{'s' if len(states) != 1 else ''} finished"
    if plan.exhaustive:
        return ALL_DONE, f"all {done}: the search space is covered"
    return BUDGET, f"{done}: maxTrials reached"


def kept_runs(
    runs: Sequence[Run], current: str, history_limit: int, pinned: Iterable[str] = ()
) -> set[str]:
    """Runs to keep: every run of the current sweep, busy runs, served runs, and the runs of
    the newest ``history_limit`` earlier sweeps (a run made outside a sweep counts as one)."""
    keep = {run.name for run in runs if run.sweep == current or busy(run)}
    keep.update(pinned)
    groups: list[str] = []
    for run in runs:  # newest first
        group = run.sweep or run.name
        if group != current and group not in groups:
            groups.append(group)
    older = set(groups[:history_limit])
    keep.update(run.name for run in runs if (run.sweep or run.name) in older)
    return keep


def promotion_order(runs: Sequence[Run]) -> list[Run]:
    """``runs`` (newest first) as a serving spec should consider them: sweeps newest first,
    and within a sweep the succeeded trials best first by the objective each trial recorded,
    then its other runs. Runs made outside a sweep keep their place."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.sweep or f"run/{run.name}", []).append(run)
    ordered: list[Run] = []
    for members in groups.values():
        ordered.extend(_best_first(members))
    return ordered


def _best_first(members: list[Run]) -> list[Run]:
    objective = (members[0].trial or {}).get("objective") if members[0].sweep else None
    if not isinstance(objective, Mapping):
        return members
    metric, direction = str(objective.get("metric")), str(objective.get("direction"))
    ranked = [
        (value, run) for run in members if (value := objective_value(run, metric)) is not None
    ]
    sign = -1.0 if direction == "maximize" else 1.0
    ranked.sort(key=lambda pair: (sign * pair[0], _index(pair[1])))
    first = [run for _, run in ranked]
    return first + [run for run in members if run not in first]


def _index(run: Run) -> int:
    index = (run.trial or {}).get("index")
    return index if isinstance(index, int) else 0
