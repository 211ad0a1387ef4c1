"""A spec's timeline from the git log of its status file, in words.

Each status commit that changed the file is one event: its time, the phase, the message, and
what changed in between (runs started or finished, a model promoted, a canary step, a sweep
trial, a failure). Reading the versions is the I/O edge (``versions``); turning them into lines
is pure (``timeline``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pygit2

from reconciler.phase import FAILING
from reconciler.status.model import SpecStatus
from reconciler.status.progress import event


@dataclass(frozen=True)
class Version:
    """The status file as one status commit left it; ``status`` None: the file was removed."""

    time: int  # commit time, seconds since the epoch
    commit: str  # the status commit
    status: SpecStatus | None


def versions(repo: pygit2.Repository, tip: pygit2.Oid, path: str) -> list[Version]:
    """Every change to ``path`` on the first-parent history up to ``tip``, oldest first."""
    found: list[Version] = []
    walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.simplify_first_parent()
    last: pygit2.Oid | None = None
    for commit in walker:
        blob = _blob(commit.tree, path)
        if blob == last:
            continue
        status = None
        if blob is not None:
            try:
                status = SpecStatus.from_yaml(repo[blob].data)
            except (ValueError, KeyError, TypeError):
                last = blob
                continue
        found.append(Version(commit.commit_time, str(commit.id), status))
        last = blob
    return found


def timeline(history: Sequence[Version]) -> list[str]:
    """One line per change: ``<time>  <phase>  <message>`` then what changed, in words."""
    lines: list[str] = []
    previous: SpecStatus | None = None
    for version in history:
        when = datetime.fromtimestamp(version.time, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        status = version.status
        if status is None:
            lines.append(f"{when}  removed  (status {version.commit[:7]})")
            previous = None
            continue
        events = _events(previous, status)
        text = f"{when}  {status.phase}"
        if status.message:
            text += f": {' '.join(status.message.split())}"
        text += f"  (source {status.observed_commit[:7]}, status {version.commit[:7]})"
        lines.append(text)
        lines.extend(f"    {event}" for event in events)
        previous = status
    return lines


def _events(old: SpecStatus | None, new: SpecStatus) -> list[str]:
    events: list[str] = []
    if old is not None and old.observed_commit != new.observed_commit:
        events.append(f"spec changed at {new.observed_commit[:7]}")
    events += _runs(_by_name(old, "runs"), _by_name(new, "runs"), "run")
    events += _runs(_by_name(old, "steps"), _by_name(new, "steps"), "step")
    for role in ("model", "canary"):
        before = old.extra.get(role) if old is not None else None
        after = new.extra.get(role)
        if not isinstance(after, Mapping):
            continue
        before = before if isinstance(before, Mapping) else {}
        if after.get("uri") != before.get("uri") or after.get("run") != before.get("run"):
            what = "canary" if role == "canary" else "model"
            source = f" from run {after['run']}{_metrics(after)}" if after.get("run") else ""
            events.append(f"promoted: {what} {after.get('uri')}{source}")
        if after.get("promotion") == "PendingLoad" and before.get("promotion") != "PendingLoad":
            events.append(f"waits to load: {after.get('promotionMessage', '')}")
    moved = event(old.extra if old is not None else None, new.extra)  # a canary step, a trial
    if moved is not None:
        events.append(moved)
    if new.phase in FAILING and (old is None or old.phase != new.phase):
        events.append(f"failure: {' '.join(new.message.split()) or new.phase}")
    return events


def _by_name(status: SpecStatus | None, field: str) -> dict[str, Mapping[str, Any]]:
    if status is None:
        return {}
    entries = status.extra.get(field) or ()
    return {str(e.get("run") or e.get("name")): e for e in entries if isinstance(e, Mapping)}


def _runs(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]], noun: str
) -> list[str]:
    events = []
    for name, entry in new.items():
        label = f"{noun} {entry.get('name')} ({name})" if noun == "step" else f"{noun} {name}"
        before = old.get(name)
        if before is None:
            events.append(f"{label}: {entry.get('phase')}{_metrics(entry)}")
        elif before.get("phase") != entry.get("phase"):
            events.append(f"{label} {entry.get('phase')}{_metrics(entry)}")
    return events


def _metrics(entry: Mapping[str, Any]) -> str:
    metrics = entry.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return ""
    return " (" + ", ".join(f"{name} {value}" for name, value in metrics.items()) + ")"


def _blob(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None
