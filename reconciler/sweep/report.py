"""A sweep in the status file and the spec's phase from it; pure.

The status file's ``sweep`` field lists every trial (parameters, run, phase, metrics), the best
trial so far and, once the sweep has ended, why. The spec is Progressing while trials run or
more will start, then Succeeded with a best trial, or Failed when no trial produced the metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.health import Health
from reconciler.phase import Phase
from reconciler.specs.models import TrainingJob
from reconciler.sweep.progress import SweepProgress, TrialState
from reconciler.sweep.trials import SweepPlan

_RUNNING = ("Progressing", "Starting")


def sweep_status(training: TrainingJob, plan: SweepPlan, found: SweepProgress) -> dict[str, Any]:
    sweep = training.spec.sweep
    assert sweep is not None
    status: dict[str, Any] = {
        "id": plan.id,
        "algorithm": sweep.algorithm,
        "objective": sweep.objective.model_dump(mode="json", exclude_none=True),
        "parallelism": sweep.parallelism,
        "trials": [state.as_status() for state in found.trials],
    }
    if found.best is not None:
        status["best"] = _best(found.best)
    if found.ended is not None:
        status["ended"] = {"reason": found.ended[0], "message": found.ended[1]}
    return status


def _best(state: TrialState) -> dict[str, Any]:
    entry = state.as_status()
    entry.pop("phase", None)
    return entry


def sweep_health(extra: Mapping[str, Any]) -> Health | None:
    """The phase of a sweep spec from its status fields; None for a spec without a sweep."""
    sweep = extra.get("sweep")
    if not isinstance(sweep, Mapping):
        return None
    trials = [t for t in sweep.get("trials") or () if isinstance(t, Mapping)]
    running = sum(1 for t in trials if t.get("phase") in _RUNNING)
    finished = sum(1 for t in trials if t.get("phase") in ("Succeeded", "Failed"))
    best = sweep.get("best")
    summary = f"{finished}/{len(trials)} trials finished"
    if isinstance(best, Mapping):
        metric = (sweep.get("objective") or {}).get("metric")
        value = (best.get("metrics") or {}).get(metric)
        summary += f"; best trial {best.get('trial')}" + (
            f" ({metric} {value:g})" if isinstance(value, int | float) else ""
        )
    ended = sweep.get("ended")
    if not isinstance(ended, Mapping):
        return Health(Phase.PROGRESSING, "SweepRunning", f"{summary}; {running} running")
    why = f"ended {ended.get('reason')}: {ended.get('message')}"
    if running:
        return Health(Phase.PROGRESSING, "SweepEnding", f"{why}; {running} trials still running")
    if not isinstance(best, Mapping):
        return Health(Phase.FAILED, "SweepFailed", f"{why}; no trial reported the objective")
    return Health(Phase.SUCCEEDED, "SweepEnded", f"{summary}; {why}")


def table(sweep: Mapping[str, Any], markdown: bool = False) -> list[str]:
    """The trials as a table: one row each, the best marked with ``*``; Markdown for the
    dashboard, aligned text for ``reconciler history``."""
    metric = str((sweep.get("objective") or {}).get("metric", ""))
    best = (sweep.get("best") or {}).get("trial")
    header = ["", "Trial", "Parameters", "Run", "Phase", metric]
    rows = []
    for trial in sweep.get("trials") or ():
        values = trial.get("parameters") or {}
        value = (trial.get("metrics") or {}).get(metric)
        rows.append(
            [
                "*" if trial.get("trial") == best else "",
                str(trial.get("trial")),
                ", ".join(f"{name}={v}" for name, v in values.items()),
                str(trial.get("run")),
                str(trial.get("phase")),
                "" if value is None else f"{value:g}",
            ]
        )
    if markdown:
        cells = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(row) + " |" for row in cells]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def summary_line(sweep: Mapping[str, Any]) -> str:
    """``grid sweep 1a2b3c4d, 2 at once, objective auc maximize; ended AllDone: ...``"""
    objective = sweep.get("objective") or {}
    line = (
        f"{sweep.get('algorithm')} sweep {sweep.get('id')}, {sweep.get('parallelism')} at once, "
        f"objective {objective.get('metric')} {objective.get('direction')}"
    )
    if "goal" in objective:
        line += f" (goal {objective['goal']:g})"
    ended = sweep.get("ended")
    if isinstance(ended, Mapping):
        line += f"; ended {ended.get('reason')}: {ended.get('message')}"
    return line


def trial_text(trial: Mapping[str, Any]) -> str:
    """``trial 3 of sweep 1a2b3c4d: max_depth=12, eta=0.1``, for lineage lines."""
    values = trial.get("parameters") or {}
    shown = ", ".join(f"{name}={value}" for name, value in values.items())
    return f"trial {trial.get('index')} of sweep {trial.get('sweep')}: {shown}"


def served_trial(run_trial: Mapping[str, Any] | None, sweep: str | None) -> dict[str, Any] | None:
    """What a serving spec's lineage says about the trial its run came from."""
    if run_trial is None or sweep is None:
        return None
    return {
        "sweep": sweep,
        "index": run_trial.get("index"),
        "parameters": dict(run_trial.get("parameters") or {}),
    }
