"""The Git note on a spec-branch commit: what reconciling that commit did, in a few lines.

``git log --notes=reconciler`` then shows each deployment's outcome under its commit. The text is
a pure function of the statuses and of what was applied and pruned while the commit was the
branch head, with no time in it: it changes only when the commit's outcome does (Progressing
becomes Ready, a run finishes), so a note is rewritten per outcome, never per reconcile.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.phase import UNSETTLED, Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import SpecStatus

MAX_LISTED = 10  # names listed per section before "+N more"
MAX_MESSAGE = 100
_FAILING = (Phase.FAILED, Phase.INVALID, Phase.DEGRADED)  # the order the outcome line prefers
_COUNTS = re.compile(r"^objects applied: (\d+), pruned: (\d+)$", re.MULTILINE)


@dataclass
class CommitWork:
    """What the reconciler did while one spec-branch commit was the head."""

    commit: str
    applied: set[str] = field(default_factory=set)  # object references, so a re-apply counts once
    pruned: set[str] = field(default_factory=set)
    removed: set[SpecKey] = field(default_factory=set)
    # Counts from a note written before a restart: this process cannot list those objects again.
    floor: tuple[int, int] = (0, 0)

    def counts(self) -> tuple[int, int]:
        return max(len(self.applied), self.floor[0]), max(len(self.pruned), self.floor[1])


def previous_counts(note: str | None) -> tuple[int, int]:
    """Objects applied and pruned as an earlier note on the same commit counted them."""
    found = _COUNTS.search(note or "")
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def note_text(work: CommitWork, statuses: Mapping[SpecKey, SpecStatus]) -> str:
    """The note for ``work.commit``: outcome line, specs changed, objects, runs, promotions,
    failures. A spec changed at this commit is one whose content first appeared in it."""
    commit = work.commit
    changed = sorted(
        ((k, s) for k, s in statuses.items() if s.observed_commit == commit), key=lambda e: e[0]
    )
    phases = Counter(str(s.phase) for _, s in changed)
    failing = [(k, s) for k, s in changed if str(s.phase) in _FAILING]
    if failing:
        outcome = next(p for p in _FAILING if phases[p])
    elif any(phases[p] for p in UNSETTLED):
        outcome = Phase.PROGRESSING
    else:
        outcome = Phase.READY
    tally = ", ".join(f"{count} {phase}" for phase, count in sorted(phases.items()))
    if work.removed:
        tally += f"{', ' if tally else ''}{len(work.removed)} removed"
    applied, pruned = work.counts()
    lines = [
        f"reconciler: {outcome} at {commit[:7]}",
        f"specs changed: {len(changed) + len(work.removed)}" + (f" ({tally})" if tally else ""),
        f"objects applied: {applied}, pruned: {pruned}",
    ]
    lines += _section("new runs", _runs(changed, commit))
    lines += _section("promoted", _promotions(statuses, commit))
    lines += _section("removed", sorted(str(key) for key in work.removed))
    lines += _section("failed", (f"{k}: {s.phase}: {_line(s.message)}" for k, s in failing))
    return "\n".join(lines) + "\n"


def _section(title: str, items: Iterable[str]) -> list[str]:
    listed = list(items)
    if not listed:
        return []
    lines = [f"{title}:"] + [f"  {item}" for item in listed[:MAX_LISTED]]
    if len(listed) > MAX_LISTED:
        lines.append(f"  +{len(listed) - MAX_LISTED} more")
    return lines


def _runs(changed: Iterable[tuple[SpecKey, SpecStatus]], commit: str) -> list[str]:
    runs: list[str] = []
    for key, status in changed:
        for run in status.extra.get("runs") or ():
            if run.get("sourceCommit") == commit:
                runs.append(f"{run.get('name')} {run.get('phase')}{_metrics(run)}")
        for step in status.extra.get("steps") or ():
            if step.get("run"):
                runs.append(f"{key.name}/{step.get('name')} {step.get('phase')}{_metrics(step)}")
    return runs


def _promotions(statuses: Mapping[SpecKey, SpecStatus], commit: str) -> list[str]:
    """Serving specs that serve a run trained at, or asked for by, this commit."""
    found: list[str] = []
    for key in sorted(k for k in statuses if k.kind == "ModelDeployment"):
        status = statuses[key]
        for role in ("model", "canary"):
            model = status.extra.get(role)
            if not isinstance(model, Mapping) or not model.get("run"):
                continue
            if commit not in (model.get("runSourceCommit"), status.observed_commit):
                continue
            verb = "waits to load" if model.get("promotion") == "PendingLoad" else "serves"
            what = "canary " if role == "canary" else ""
            found.append(f"{key.name} {verb} {what}{model.get('uri')} from run {model['run']}")
    return found


def _metrics(entry: Mapping[str, object]) -> str:
    metrics = entry.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return ""
    return " (" + ", ".join(f"{name} {value}" for name, value in metrics.items()) + ")"


def _line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."
