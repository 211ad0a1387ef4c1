"""Plan: pair desired manifests with live objects by key and decide what to do with each.

Pure: no client, no clock. The result is a ChangeSet that apply, prune, status, metrics and logs
all read.

A live object drifts from its manifest where ``reconciler.diff.drift`` says so: only fields the
manifest sets count, keyed lists pair by key (an item added by hand is not drift; one removed from
Git is caught by the spec hash), atomic lists compare whole, quantities under ``resources``
canonically and empty values match absent ones. Drift reasons name paths, never values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from reconciler import labels
from reconciler.diff import FieldChange, drift
from reconciler.inventory import Inventory, ObjectRef, owner_spec
from reconciler.order import apply_order, prune_order
from reconciler.specs.loaded import SpecKey

_REASONS_SHOWN = 3


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    PRUNE = "prune"
    NOOP = "noop"
    KEEP = "keep"
    """An immutable training run that already exists: created once, never patched."""


@dataclass(frozen=True)
class Change:
    action: Action
    ref: ObjectRef
    reason: str
    desired: dict[str, Any] | None
    live: dict[str, Any] | None
    drift: tuple[str, ...] = ()

    @property
    def spec(self) -> SpecKey | None:
        """The spec this change belongs to."""
        obj = self.desired if self.desired is not None else self.live
        return owner_spec(obj) if obj is not None else None

    def applied(self) -> Change:
        """This change once written, as status, events and the guard read it after the apply:
        a create's or update's desired object cut to the metadata that names its spec, its live
        object to the uid an Event about it names. A prune is kept whole: it is written last,
        and its live object says where it came from."""
        if self.action is Action.PRUNE or self.desired is None:
            return self
        metadata = self.desired.get("metadata") or {}
        named = {k: metadata[k] for k in ("name", "namespace", "labels") if k in metadata}
        live = None
        if self.live is not None:
            live = {"metadata": {"uid": (self.live.get("metadata") or {}).get("uid")}}
        return replace(self, desired={"metadata": named}, live=live)


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[Change, ...]

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def _of(self, action: Action) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action is action)

    @property
    def creates(self) -> tuple[Change, ...]:
        return self._of(Action.CREATE)

    @property
    def updates(self) -> tuple[Change, ...]:
        return self._of(Action.UPDATE)

    @property
    def prunes(self) -> tuple[Change, ...]:
        return self._of(Action.PRUNE)

    @property
    def noops(self) -> tuple[Change, ...]:
        return self._of(Action.NOOP)

    @property
    def keeps(self) -> tuple[Change, ...]:
        return self._of(Action.KEEP)

    @property
    def has_writes(self) -> bool:
        """False when applying this set would make no API call (a no-op reconcile)."""
        writes = (Action.CREATE, Action.UPDATE, Action.PRUNE)
        return any(change.action in writes for change in self.changes)

    def applied(self) -> ChangeSet:
        """Every change as ``Change.applied`` leaves it."""
        return ChangeSet(tuple(change.applied() for change in self.changes))

    def withholding(self, refs: Collection[ObjectRef]) -> ChangeSet:
        """This set without the prunes of ``refs``: applies and other prunes stay."""
        withheld = set(refs)
        return ChangeSet(
            tuple(
                change
                for change in self.changes
                if not (change.action is Action.PRUNE and change.ref in withheld)
            )
        )

    def by_spec(self) -> dict[SpecKey | None, tuple[Change, ...]]:
        """Changes grouped by owning spec, in plan order; None holds unlabelled objects."""
        groups: dict[SpecKey | None, list[Change]] = {}
        for change in self.changes:
            groups.setdefault(change.spec, []).append(change)
        return {spec: tuple(changes) for spec, changes in groups.items()}


def plan(
    desired: Sequence[dict[str, Any]],
    live: Sequence[dict[str, Any]],
    *,
    inventory: Inventory,
    retain: Collection[ObjectRef] = (),
) -> ChangeSet:
    """Pair desired with live objects by key; see the module docstring for the drift rules.

    Only live objects the ``inventory`` owns are paired: a desired object whose address holds
    someone else's object plans a create, which apply checks before it writes (NotOwned). A live
    object no longer desired is pruned only when the inventory records applying it; ``retain``
    names such objects that must stay (finished runs within a history limit). Raises ValueError
    when two desired objects share a key, since applying both would make them fight over one
    object.
    """
    live_by_key: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for obj in live:
        if inventory.owns(obj):
            live_by_key.setdefault(ObjectRef.from_object(obj).key, obj)

    seen: dict[tuple[str, str, str, str], ObjectRef] = {}
    changes: list[Change] = []
    for obj in apply_order(desired):
        ref = ObjectRef.from_object(obj)
        if ref.key in seen:
            raise ValueError(f"two desired objects are both {ref}")
        seen[ref.key] = ref
        changes.append(_compare(ref, obj, live_by_key.get(ref.key)))

    retained = {ref.key for ref in retain}
    orphans = {
        ObjectRef.from_object(obj): obj
        for key, obj in live_by_key.items()
        if key not in seen and key not in retained and inventory.may_prune(obj)
    }
    changes.extend(
        Change(Action.PRUNE, ref, "removed from Git", None, orphans[ref])
        for ref in prune_order(orphans)
    )
    return ChangeSet(tuple(changes))


def _compare(ref: ObjectRef, desired: dict[str, Any], live: dict[str, Any] | None) -> Change:
    if live is None:
        return Change(Action.CREATE, ref, "new", desired, None)
    if _label(desired, labels.RUN_HASH):
        return Change(Action.KEEP, ref, "run exists; runs are never patched", desired, live)
    drifts = drift(desired, live)
    paths = tuple(change.path for change in drifts)
    if _annotation(desired, labels.SPEC_HASH) != _annotation(live, labels.SPEC_HASH):
        return Change(Action.UPDATE, ref, "spec changed", desired, live, paths)
    # Serving a newly promoted model changes the object without changing its spec.
    served = (_annotation(live, labels.MODEL_URI), _annotation(desired, labels.MODEL_URI))
    canary = (
        _annotation(live, labels.CANARY_MODEL_URI),
        _annotation(desired, labels.CANARY_MODEL_URI),
    )
    if served[0] != served[1] or canary[0] != canary[1]:
        # Only the model wanted now: the live annotation is whatever the cluster holds.
        changed = served if served[0] != served[1] else canary
        reason = f"model changed: now {changed[1]}"
        return Change(Action.UPDATE, ref, reason, desired, live, paths)
    # A canary analysis moves the traffic without changing the spec either.
    traffic = _annotation(desired, labels.CANARY_TRAFFIC)
    if traffic is not None and traffic != _annotation(live, labels.CANARY_TRAFFIC):
        return Change(Action.UPDATE, ref, f"canary traffic now {traffic}%", desired, live, paths)
    if drifts:
        return Change(Action.UPDATE, ref, _drift_reason(drifts), desired, live, paths)
    return Change(Action.NOOP, ref, "in sync", desired, live)


def _label(obj: dict[str, Any], key: str) -> str | None:
    values = (obj.get("metadata") or {}).get("labels") or {}
    return values.get(key)


def _annotation(obj: dict[str, Any], key: str) -> str | None:
    values = (obj.get("metadata") or {}).get("annotations") or {}
    return values.get(key)


# --- drift -------------------------------------------------------------------------------------


def _drift_reason(drifts: list[FieldChange]) -> str:
    """The fields that drifted, never their values.

    The reason reaches logs and the status branch; a live value is whatever someone typed into
    the cluster (a database URL with its password in an env value), and a desired value can be
    an env value too. The paths say where to look; ``reconciler plan`` shows Git's side.
    """
    shown = "; ".join(change.path for change in drifts[:_REASONS_SHOWN])
    hidden = len(drifts) - _REASONS_SHOWN
    return f"drifted: {shown}" + (f" (and {hidden} more)" if hidden > 0 else "")
