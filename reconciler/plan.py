"""Plan: pair desired manifests with live objects by key and decide what to do with each.

Pure: no client, no clock. The result is a ChangeSet that apply, prune, status, metrics and logs
all read.

Drift rules (what makes a live object differ from its manifest):

- Only fields the manifest sets are compared. The server adds defaults (``strategy``,
  ``imagePullPolicy``, ``terminationMessagePath``...), ``status`` and ``managedFields``; none of that
  is drift.
- Maps are compared key by key. Lists whose items have a natural key (containers, env, volumes by
  name; volumeMounts by mountPath; ports by port and protocol; conditions by type) are matched by
  that key, so reordering is not drift. An item someone added by hand (an extra container, an
  extra env var) is not drift either: server-side apply would leave an item another manager owns
  in place, so calling it drift would plan the same update on every cycle forever. Items removed
  from Git are still caught: removing them changes the spec hash.
- Other lists are atomic, as server-side apply treats them: same length, compared item by item.
- Under ``resources`` quantities are compared canonically (``1000m`` equals ``1``). Elsewhere
  values compare exactly: ``targetPort: 8080`` (a number) and ``"8080"`` (a port name) differ.
- A manifest's empty or zero value (``[]``, ``{}``, ``""``, ``0``, ``false``) matches an absent
  live field, because the API server omits empty values when it serialises an object.
- From ``metadata`` only the labels and annotations the manifest sets are compared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler import kinds, labels
from reconciler.cluster.inventory import Inventory, ObjectRef, owner_spec
from reconciler.cluster.order import apply_order, prune_order
from reconciler.quantity import QuantityError, canonical

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
    def spec(self) -> tuple[str, str, str] | None:
        """``(kind, namespace, name)`` of the spec this change belongs to."""
        obj = self.desired if self.desired is not None else self.live
        return owner_spec(obj) if obj is not None else None


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

    def by_spec(self) -> dict[tuple[str, str, str] | None, tuple[Change, ...]]:
        """Changes grouped by owning spec, in plan order; None holds unlabelled objects."""
        groups: dict[tuple[str, str, str] | None, list[Change]] = {}
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
    drifts = _object_drift(desired, live)
    paths = tuple(drift.path for drift in drifts)
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


_ABSENT: Any = object()
"""Stands for a field the live object lacks (distinct from an explicit null)."""

# The natural key of items in lists that Kubernetes merges by key (its listMapKeys), by field name.
_LIST_KEYS = kinds.list_keys()
_SKIPPED_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "status"})
_COMPARED_METADATA = ("labels", "annotations")


@dataclass(frozen=True)
class _Drift:
    path: str
    desired: Any
    live: Any


def _object_drift(desired: dict[str, Any], live: dict[str, Any]) -> list[_Drift]:
    drifts: list[_Drift] = []
    desired_meta = desired.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    for field in _COMPARED_METADATA:
        if field in desired_meta:
            _diff(desired_meta[field], live_meta.get(field, _ABSENT), f"metadata.{field}", drifts)
    for field, value in desired.items():
        if field not in _SKIPPED_TOP_LEVEL:
            _diff(value, live.get(field, _ABSENT), field, drifts, field=field)
    return drifts


def _diff(
    desired: Any,
    live: Any,
    path: str,
    drifts: list[_Drift],
    *,
    field: str = "",
    in_resources: bool = False,
) -> None:
    """Append to ``drifts`` where ``live`` lacks or differs from what ``desired`` sets.

    ``field`` is the name of the map key holding this value: it picks a list's natural key.
    """
    if desired is None:
        return  # a null in a manifest sets nothing
    if live is _ABSENT or live is None:
        if not _is_empty(desired):
            drifts.append(_Drift(path, desired, _ABSENT))
        return
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            drifts.append(_Drift(path, desired, live))
            return
        for key, value in desired.items():
            _diff(
                value,
                live.get(key, _ABSENT),
                _join(path, key),
                drifts,
                field=key,
                in_resources=in_resources or key == "resources",
            )
        return
    if isinstance(desired, list):
        if not isinstance(live, list):
            drifts.append(_Drift(path, desired, live))
            return
        _diff_list(desired, live, path, drifts, field=field, in_resources=in_resources)
        return
    if not _same_scalar(desired, live, in_resources=in_resources):
        drifts.append(_Drift(path, desired, live))


def _diff_list(
    desired: list[Any],
    live: list[Any],
    path: str,
    drifts: list[_Drift],
    *,
    field: str,
    in_resources: bool,
) -> None:
    desired_keyed = _keyed(field, desired)
    live_keyed = _keyed(field, live)
    if desired_keyed is not None and live_keyed is not None:
        for key, item in desired_keyed.items():
            _diff(
                item,
                live_keyed.get(key, _ABSENT),
                f"{path}[{key}]",
                drifts,
                in_resources=in_resources,
            )
        return
    if len(desired) != len(live):
        drifts.append(_Drift(path, desired, live))
        return
    for index, (wanted, got) in enumerate(zip(desired, live, strict=True)):
        _diff(wanted, got, f"{path}[{index}]", drifts, in_resources=in_resources)


def _keyed(field: str, items: list[Any]) -> dict[str, Any] | None:
    """Items by natural key, or None when the list has none (or duplicates it)."""
    keyed: dict[str, Any] = {}
    for item in items:
        key = _item_key(field, item)
        if key is None or key in keyed:
            return None
        keyed[key] = item
    return keyed


def _item_key(field: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if field == "ports":
        # Container ports carry containerPort, Service ports port; both are unique per protocol.
        for name in ("containerPort", "port"):
            if item.get(name) is not None:
                return f"{name}={item[name]}/{item.get('protocol') or 'TCP'}"
        return None
    name = _LIST_KEYS.get(field)
    if name is None or item.get(name) is None:
        return None
    return f"{name}={item[name]}"


def _same_scalar(desired: Any, live: Any, *, in_resources: bool) -> bool:
    if in_resources and _quantity_like(desired) and _quantity_like(live):
        try:
            return canonical(desired) == canonical(live)
        except QuantityError:
            pass
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(desired) is type(live) and desired == live
    numbers = (int, float, Decimal)
    if isinstance(desired, numbers) and isinstance(live, numbers):
        return desired == live
    return type(desired) is type(live) and desired == live


def _quantity_like(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_empty(value: Any) -> bool:
    # 0 == False, so this also covers false.
    return value in ("", 0, [], {})


def _join(path: str, key: str) -> str:
    if key.replace("_", "").replace("-", "").isalnum():
        return f"{path}.{key}"
    return f'{path}["{key}"]'


def _drift_reason(drifts: list[_Drift]) -> str:
    """The fields that drifted, never their values.

    The reason reaches logs and the status branch; a live value is whatever someone typed into
    the cluster (a database URL with its password in an env value), and a desired value can be
    an env value too. The paths say where to look; ``reconciler plan`` shows Git's side.
    """
    shown = "; ".join(drift.path for drift in drifts[:_REASONS_SHOWN])
    hidden = len(drifts) - _REASONS_SHOWN
    return f"drifted: {shown}" + (f" (and {hidden} more)" if hidden > 0 else "")


# --- prune guard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneGuard:
    """Prunes withheld from a changeset, and why.

    ``held`` is True when every prune of the commit was stopped (the PruneBlocked case); False when
    only the objects of files that failed to load were kept and the other prunes went ahead.
    """

    held: bool
    reason: str
    override: str
    refs: tuple[ObjectRef, ...] = ()


def guard_prunes(
    changeset: ChangeSet,
    *,
    load_failed: bool,
    failed_files: Collection[str],
) -> tuple[ChangeSet, PruneGuard | None]:
    """Remove prunes the state of the repository makes unsafe; return the rest and what was kept.

    Prunes are held when the commit's specs failed to load as a whole. Objects whose
    ``mlops/source-path`` names a file in ``failed_files`` are kept: a broken file must not read
    as the removal of everything it declared. How much one commit may delete, and whether its
    history follows the last one reconciled, is judged once per commit (``reconciler.guard``).
    """
    prunes = changeset.prunes
    if not prunes:
        return changeset, None
    if load_failed:
        guard = PruneGuard(
            held=True,
            reason=f"the specs at this commit did not load; holding all {len(prunes)} prunes",
            override="fix the spec repository; pruning resumes at the first commit that loads",
            refs=tuple(change.ref for change in prunes),
        )
        return changeset.withholding(guard.refs), guard
    kept = tuple(change for change in prunes if _source_path(change) in failed_files)
    if not kept:
        return changeset, None
    files = sorted({_source_path(change) or "" for change in kept})
    guard = PruneGuard(
        held=False,
        reason=(
            f"kept {len(kept)} object{'s' if len(kept) != 1 else ''} "
            f"whose spec files did not load: {', '.join(files)}"
        ),
        override="fix those files; their objects are pruned only once the files load",
        refs=tuple(change.ref for change in kept),
    )
    return changeset.withholding(guard.refs), guard


def _source_path(change: Change) -> str | None:
    return _annotation(change.live, labels.SOURCE_PATH) if change.live is not None else None
