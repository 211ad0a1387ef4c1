"""What one reconcile did, as a ``Report`` for those who tell people, and as Kubernetes Events.

The engine hands a ``Report`` to each ``Observer`` after it has written status:
``reconciler.cluster.events`` posts the Events this module derives from it (``occurrences``),
``reconciler.notify`` sends the phase changes to webhooks. Pure: no client, no clock.

Events told, on the object concerned (``kubectl describe`` and ``kubectl events`` show them):

    Apply/Created, Apply/Configured      an object created or changed from Git
    Apply/DriftReverted                  a hand-made change undone (the field paths, no values)
    Prune/Pruned                         an object deleted because Git no longer declares it
    Apply/ApplyFailed, Apply/NotOwned    a spec's write failed (Warning, on its first object)
    Promote/PromotionAdvanced            a serving spec serves a newer run
    Promote/PromotionHeld                a newer run did not pass the gate (Warning)

Notes say what Git says (spec, commit, model URI, drifted paths) and never live values: those
can be anything someone typed into the cluster, a password in an env value included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from reconciler import kinds
from reconciler.inventory import ObjectRef
from reconciler.plan import Action, Change
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import ResourceRef, SpecStatus, StatusChange

NOTE_BYTES = 1024  # events.k8s.io/v1 refuses a longer note
_SHORT = 7


@dataclass(frozen=True)
class Report:
    """One reconcile's outcome: writes made, writes that failed, status files changed."""

    head: str  # the spec-branch commit reconciled
    time: str  # when, RFC 3339 UTC
    written: tuple[Change, ...] = ()  # applied and pruned, of specs whose writes all succeeded
    failed: tuple[Change, ...] = ()  # the writes planned by specs whose writes failed
    failures: Mapping[SpecKey, tuple[str, str]] = field(default_factory=dict)
    """Spec -> (reason, message) of its first failed write."""
    changes: tuple[StatusChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.written or self.failed or self.changes)


class Observer(Protocol):
    def observe(self, report: Report) -> None:
        """Take note of a report without blocking and without raising."""


@dataclass(frozen=True)
class Occurrence:
    """One Event to post: what happened to ``regarding``, in Kubernetes' words."""

    regarding: ObjectRef
    type: str  # Normal | Warning
    action: str
    reason: str
    note: str
    uid: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        """What makes a repeat the same Event (client-go's key: the note is not part of it)."""
        ref = self.regarding
        return (
            ref.api_version,
            ref.kind,
            ref.namespace,
            ref.name,
            self.type,
            self.action,
            self.reason,
        )


def occurrences(report: Report) -> list[Occurrence]:
    found = [_written(change, report.head) for change in report.written]
    found += _failures(report)
    for change in report.changes:
        if change.key.kind == "ModelDeployment" and change.status is not None:
            found += _promotions(change.status, change.previous)
    return [occurrence for occurrence in found if occurrence is not None]


def _written(change: Change, head: str) -> Occurrence | None:
    spec = "/".join(change.spec[::2]) if change.spec else "a removed spec"
    commit = head[:_SHORT]
    if change.action is Action.CREATE:
        return Occurrence(change.ref, "Normal", "Apply", "Created", f"{spec} at {commit}")
    if change.action is Action.UPDATE:
        if change.reason.startswith("drifted"):
            note = f"{spec}: reverted to Git at {commit}: {change.reason}"
            return Occurrence(change.ref, "Normal", "Apply", "DriftReverted", _fit(note))
        note = f"{spec} at {commit}: {change.reason}"
        return Occurrence(change.ref, "Normal", "Apply", "Configured", _fit(note))
    if change.action is Action.PRUNE:
        note = f"{spec}: no longer declared in Git at {commit}"
        return Occurrence(change.ref, "Normal", "Prune", "Pruned", note, _uid(change.live))
    return None


def _failures(report: Report) -> list[Occurrence]:
    """One Warning per failed spec, on the first object it meant to write."""
    found: list[Occurrence] = []
    told: set[tuple[str, str, str]] = set()
    for change in report.failed:
        spec = change.spec
        if spec is None or spec in told or spec not in report.failures:
            continue
        told.add(spec)
        reason, message = report.failures[spec]
        action = "Prune" if change.action is Action.PRUNE else "Apply"
        note = _fit(f"{spec[0]} {spec[1]}/{spec[2]}: {message}")
        found.append(Occurrence(change.ref, "Warning", action, reason, note, _uid(change.live)))
    return found


def _promotions(status: SpecStatus, previous: SpecStatus | None) -> list[Occurrence]:
    serving = _serving_object(status.resources)
    if serving is None:
        return []
    ref, uid = serving
    found: list[Occurrence] = []
    for role in ("model", "canary"):
        now = _mapping(status.extra.get(role))
        before = _mapping(previous.extra.get(role)) if previous is not None else {}
        what = "canary " if role == "canary" else ""
        run = now.get("run")
        if run and run != before.get("run"):
            note = f"serves {what}{now.get('uri')} from run {run}"
            found.append(Occurrence(ref, "Normal", "Promote", "PromotionAdvanced", _fit(note), uid))
        held_before = {entry.get("run") for entry in before.get("notPromoted") or ()}
        held = [e for e in now.get("notPromoted") or () if e.get("run") not in held_before]
        if held:
            listed = "; ".join(f"run {e.get('run')}: {e.get('reason')}" for e in held)
            note = f"{what}not promoted: {listed}"
            found.append(Occurrence(ref, "Warning", "Promote", "PromotionHeld", _fit(note), uid))
    return found


def _serving_object(resources: tuple[ResourceRef, ...]) -> tuple[ObjectRef, str] | None:
    """The object that serves (a Deployment, an InferenceService): first in apply order after
    the Service, which only routes to it and is applied before every pod-making kind."""
    serving = [r for r in resources if (r.api_version, r.kind) != ("v1", "Service")] or resources
    if not serving:
        return None
    first = min(serving, key=lambda r: kinds.rank(r.api_version.rpartition("/")[0], r.kind))
    return ObjectRef(first.api_version, first.kind, first.namespace, first.name), first.uid


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _uid(obj: Mapping[str, object] | None) -> str:
    metadata = _mapping((obj or {}).get("metadata"))
    return str(metadata.get("uid") or "")


def _fit(note: str) -> str:
    encoded = note.encode()
    if len(encoded) <= NOTE_BYTES:
        return note
    return encoded[: NOTE_BYTES - 3].decode(errors="ignore") + "..."
