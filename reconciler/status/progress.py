"""Where a canary analysis or a sweep stands, read from a status file's ``analysis`` and
``sweep`` fields; pure.

Both move on without the spec's phase changing: a canary steps from 25% to 50% while the spec
stays Ready, a trial finishes while the sweep stays Progressing. ``event`` says in words what
one status change did (for the status commit's subject); ``progress`` says where it stands now
(for ``reconciler status``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.phase import Phase

ANALYSIS = "analysis"
SWEEP = "sweep"
_FINISHED = (Phase.SUCCEEDED, Phase.FAILED)
_RUNNING = ("Starting", Phase.PROGRESSING)


def event(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str | None:
    """What changed between two versions of a spec's kind-specific fields, when an analysis or
    a sweep moved: ``canary 25% -> 50%``, ``trial 3 Succeeded (5/12 finished), best auc 0.95``;
    None when neither did."""
    before = before or {}
    analysis = after.get(ANALYSIS)
    if isinstance(analysis, Mapping):
        return _analysis_event(_mapping(before.get(ANALYSIS)), analysis)
    sweep = after.get(SWEEP)
    if isinstance(sweep, Mapping):
        return _sweep_event(_mapping(before.get(SWEEP)), sweep)
    return None


def progress(extra: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the analysis or sweep of a spec stands, for people and scripts: the fields of
    ``reconciler status -o json``'s ``progress``, ``summary`` being its one line of text."""
    analysis = extra.get(ANALYSIS)
    if isinstance(analysis, Mapping):
        stage, weight, step = analysis.get("phase"), analysis.get("weight"), analysis.get("step")
        summary = f"canary {stage} at {weight}%"
        if stage == Phase.PROGRESSING:
            summary += f" (step {step})"
        return {
            "kind": "canary",
            "stage": stage,
            "weight": weight,
            "step": step,
            "summary": summary,
        }
    sweep = extra.get(SWEEP)
    if isinstance(sweep, Mapping):
        trials = _trials(sweep)
        finished = sum(1 for t in trials if t.get("phase") in _FINISHED)
        running = sum(1 for t in trials if t.get("phase") in _RUNNING)
        found: dict[str, Any] = {
            "kind": "sweep",
            "finished": finished,
            "running": running,
            "trials": len(trials),
        }
        parts = [f"sweep {finished}/{len(trials)} finished"]
        if running:
            parts.append(f"{running} running")
        best = sweep.get("best")
        if isinstance(best, Mapping):
            found["bestTrial"] = best.get("trial")
            found["best"] = dict(_mapping(best.get("metrics")))
            value = _objective(sweep, best)
            parts.append(f"best trial {best.get('trial')}" + (f" ({value})" if value else ""))
        ended = sweep.get("ended")
        if isinstance(ended, Mapping):
            found["ended"] = ended.get("reason")
            parts.append(f"ended {ended.get('reason')}")
        found["summary"] = ", ".join(parts)
        return found
    return None


def _analysis_event(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    stage, weight = after.get("phase"), after.get("weight")
    checks = _checks(after)
    if before.get("canaryHash") != after.get("canaryHash"):
        return f"canary analysis started at {weight}%"
    if stage != before.get("phase"):
        if stage == "Promoted":
            return (
                f"canary {before.get('weight')}% -> {weight}%, promoted after {len(checks)} checks"
            )
        if stage == "RolledBack":
            at = checks[-1].get("weight") if checks else before.get("weight")
            return f"canary rolled back at {at}%"
        if stage == "Held":
            return f"canary held at {weight}% after its last step"
    if weight != before.get("weight"):
        return f"canary {before.get('weight')}% -> {weight}%"
    if len(checks) > len(_checks(before)):
        return (
            f"canary check {checks[-1].get('verdict')} at {weight}%, "
            f"{after.get('failures')} failed or inconclusive so far"
        )
    return None


def _sweep_event(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    trials = _trials(after)
    if before.get("id") != after.get("id"):
        count = f"{len(trials)} trial{'s' if len(trials) != 1 else ''}"
        return f"{after.get('algorithm')} sweep {after.get('id')} of {count} started"
    best = _objective(after, _mapping(after.get("best")))
    best_text = f", best {best}" if best else ""
    ended = after.get("ended")
    if isinstance(ended, Mapping) and not isinstance(before.get("ended"), Mapping):
        return f"sweep ended {ended.get('reason')}{best_text}"
    old = {t.get("trial"): t for t in _trials(before)}
    finished = sum(1 for t in trials if t.get("phase") in _FINISHED)
    done = [
        t
        for t in trials
        if t.get("phase") in _FINISHED
        and (
            _mapping(old.get(t.get("trial"))).get("phase") != t.get("phase")
            or _mapping(old.get(t.get("trial"))).get("metrics") != t.get("metrics")
        )
    ]
    count = f"({finished}/{len(trials)} finished)"
    if len(done) == 1:
        return f"trial {done[0].get('trial')} {done[0].get('phase')} {count}{best_text}"
    if done:
        names = ", ".join(str(t.get("trial")) for t in done)
        return f"trials {names} finished {count}{best_text}"
    started = [
        t
        for t in trials
        if t.get("phase") in _RUNNING
        and _mapping(old.get(t.get("trial"))).get("phase") not in _RUNNING
    ]
    if started:
        names = ", ".join(str(t.get("trial")) for t in started)
        plural = "s" if len(started) > 1 else ""
        return f"trial{plural} {names} started {count}{best_text}"
    return None


def _objective(sweep: Mapping[str, Any], trial: Mapping[str, Any]) -> str:
    """``auc 0.95``: the trial's value of the sweep's objective, or "" without one."""
    metric = _mapping(sweep.get("objective")).get("metric")
    value = _mapping(trial.get("metrics")).get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"{metric} {value:g}"


def _trials(sweep: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in sweep.get("trials") or () if isinstance(t, Mapping)]


def _checks(analysis: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return [c for c in analysis.get("checks") or () if isinstance(c, Mapping)]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
