"""Field-level comparison of a manifest with another copy of an object. Pure.

The one differ of the project: ``plan`` finds drift with it, ``reconciler plan`` (the review)
shows what a commit changes with it. Both read paths the same way, pair list items by the same
keys and mark a missing field with the same ``ABSENT``.

Paths read like ``spec.template.spec.containers[name=model].env[name=LOG_LEVEL].value``: maps by
key (``metadata.annotations["mlops/spec-hash"]`` when a key is not one word), lists Kubernetes
merges by key (its listMapKeys, from ``reconciler.kinds``) by that key, ports by port and
protocol, and other lists by index. Reordering a keyed list is never a change.

What the other copy is decides how strictly it compares:

- ``drift(desired, live)``: the other copy comes from the API server (the live object). Only
  fields the manifest sets count: server defaults, ``status``, bookkeeping metadata and items
  another manager added to a keyed list are not drift, since server-side apply would leave them
  in place and calling them drift would plan the same update forever. An empty or zero value in
  the manifest matches an absent field (the server omits empty values when it serialises), a
  null sets nothing, quantities under ``resources`` compare canonically (``1000m`` is ``1``),
  and an atomic list of another length drifts as a whole, as apply replaces it whole.
- ``changes(before, after)``: both copies are what the reconciler would send (a manifest
  rendered at the base commit and at the head commit). Every difference counts, exactly as
  written: a respelled quantity is a new spec hash and a new run, so it is shown. Lists the
  key table does not know are paired by ``name`` when every item has a unique one (pipeline
  steps in a spec): nothing is merged there, so pairing by name only makes the diff readable.

Elsewhere values compare exactly in both: ``targetPort: 8080`` (a port) and ``"8080"`` (a port
name) differ, and so do ``true`` and ``1``; against the server ``2`` and ``2.0`` are one number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reconciler import kinds
from reconciler.quantity import QuantityError, canonical


class _Absent:
    """A field one side does not have (distinct from an explicit null)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldChange:
    """One leaf (or whole added or removed subtree) that differs. ``after`` is what the
    manifest says; ``before`` what the other copy holds; ABSENT marks a missing side."""

    path: str
    before: Any
    after: Any


_LIST_KEYS = kinds.list_keys()
_PORT_FIELDS = ("containerPort", "port")
_SKIPPED_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "status"})
_COMPARED_METADATA = ("labels", "annotations")


def drift(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[FieldChange]:
    """Where ``live`` lacks or differs from what ``desired`` sets; of ``metadata`` only the
    labels and annotations the manifest sets count."""
    out: list[FieldChange] = []
    desired_meta = desired.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    for part in _COMPARED_METADATA:
        if part in desired_meta:
            _drift(desired_meta[part], live_meta.get(part, ABSENT), f"metadata.{part}", part, out)
    for name, value in desired.items():
        if name not in _SKIPPED_TOP_LEVEL:
            _drift(value, live.get(name, ABSENT), name, name, out)
    return out


def changes(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Every field that differs between two documents, in the order ``after`` writes them,
    then the ones only ``before`` has."""
    out: list[FieldChange] = []
    _changes(before, after, path, "", out)
    return out


def project(shape: Any, value: Any, field: str = "") -> Any:
    """The part of ``value`` (a server's copy) at the fields ``shape`` (a manifest) sets.

    Keyed list items are matched by key, so items someone else added are left out, as
    server-side apply leaves them alone; other lists are taken whole, as apply replaces them.
    """
    if isinstance(shape, Mapping) and isinstance(value, Mapping):
        return {key: project(shape[key], value[key], key) for key in shape if key in value}
    if isinstance(shape, list) and isinstance(value, list):
        shape_keyed, value_keyed = _keyed(field, shape), _keyed(field, value)
        if shape_keyed is None or value_keyed is None:
            return value
        return [
            project(item, value_keyed[key])
            for key, item in shape_keyed.items()
            if key in value_keyed
        ]
    return value


def join(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` when the key would not read as one segment."""
    if key and key.replace("_", "").replace("-", "").isalnum():
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def item_key(field: str, item: Any, *, by_name: bool = False) -> str | None:
    """``name=value`` that identifies ``item`` in the list held by ``field``, or None when the
    list is atomic. ``by_name`` pairs lists the table does not know by ``name``."""
    if not isinstance(item, Mapping):
        return None
    if field == "ports":
        # Container ports carry containerPort, Service ports port; both are unique per protocol.
        for name in _PORT_FIELDS:
            if item.get(name) is not None:
                return f"{name}={item[name]}/{item.get('protocol') or 'TCP'}"
        return None
    name = _LIST_KEYS.get(field) or ("name" if by_name else None)
    value = item.get(name) if name is not None else None
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    return f"{name}={value}"


# --- against the server's copy -----------------------------------------------------------------


def _drift(
    desired: Any,
    live: Any,
    path: str,
    field: str,
    out: list[FieldChange],
    *,
    in_resources: bool = False,
) -> None:
    """``field`` is the map key holding this value: it picks a list's key."""
    if desired is None:
        return  # a null in a manifest sets nothing
    if live is ABSENT or live is None:
        if not _is_empty(desired):
            out.append(FieldChange(path, ABSENT, desired))
        return
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            out.append(FieldChange(path, live, desired))
            return
        for key, value in desired.items():
            child_in_resources = in_resources or key == "resources"
            _drift(
                value,
                live.get(key, ABSENT),
                join(path, key),
                key,
                out,
                in_resources=child_in_resources,
            )
        return
    if isinstance(desired, list):
        if not isinstance(live, list):
            out.append(FieldChange(path, live, desired))
            return
        desired_keyed, live_keyed = _keyed(field, desired), _keyed(field, live)
        if desired_keyed is not None and live_keyed is not None:
            for key, item in desired_keyed.items():
                got = live_keyed.get(key, ABSENT)
                _drift(item, got, f"{path}[{key}]", "", out, in_resources=in_resources)
            return
        if len(desired) != len(live):
            out.append(FieldChange(path, live, desired))
            return
        for index, (wanted, got) in enumerate(zip(desired, live, strict=True)):
            _drift(wanted, got, f"{path}[{index}]", "", out, in_resources=in_resources)
        return
    if not _same_scalar(desired, live, quantities=in_resources):
        out.append(FieldChange(path, live, desired))


def _same_scalar(desired: Any, live: Any, *, quantities: bool) -> bool:
    if quantities and _quantity_like(desired) and _quantity_like(live):
        try:
            return canonical(desired) == canonical(live)
        except QuantityError:
            pass
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(desired) is type(live) and desired == live
    numbers = (int, float, Decimal)
    if isinstance(desired, numbers) and isinstance(live, numbers):
        return desired == live  # the server reads 2 and 2.0 as one number
    return type(desired) is type(live) and desired == live


def _quantity_like(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_empty(value: Any) -> bool:
    # 0 == False, so this also covers false.
    return value in ("", 0, [], {})


# --- between two documents ---------------------------------------------------------------------


def _changes(before: Any, after: Any, path: str, field: str, out: list[FieldChange]) -> None:
    if before is ABSENT or after is ABSENT:
        if before is not after:
            out.append(FieldChange(path, before, after))
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in _ordered(before, after):
            _changes(before.get(key, ABSENT), after.get(key, ABSENT), join(path, key), key, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        before_keyed = _keyed(field, before, by_name=True)
        after_keyed = _keyed(field, after, by_name=True)
        if before_keyed is not None and after_keyed is not None:
            for key in _ordered(before_keyed, after_keyed):
                old, new = before_keyed.get(key, ABSENT), after_keyed.get(key, ABSENT)
                _changes(old, new, f"{path}[{key}]", "", out)
            return
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else ABSENT
            new = after[index] if index < len(after) else ABSENT
            _changes(old, new, f"{path}[{index}]", "", out)
        return
    if type(before) is not type(after) or before != after:
        out.append(FieldChange(path, before, after))


def _ordered(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [*after, *(key for key in before if key not in after)]


# --- shared ------------------------------------------------------------------------------------


def _keyed(field: str, items: list[Any], *, by_name: bool = False) -> dict[str, Any] | None:
    """Items by key, or None when the list is atomic (an item lacks a key or shares it)."""
    keyed: dict[str, Any] = {}
    for item in items:
        key = item_key(field, item, by_name=by_name)
        if key is None or key in keyed:
            return None
        keyed[key] = item
    return keyed
