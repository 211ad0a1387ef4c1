"""Server-side apply and managedFields, following structured-merge-diff as kube-apiserver runs it.

- ``apply`` merges an applied configuration into the live object: list-maps by key, sets by
  value, atomic lists and maps replaced; a field another manager owns and the apply would change
  is a conflict (409) unless forced, when ownership moves; equal values are shared; a field the
  manager applied before but no longer does is removed unless someone else still owns it.
- ``record_update`` gives the managedFields after a create/update/patch: changed fields move to
  the updating manager, removed ones leave every set, empty entries disappear.

Never owned: apiVersion, kind and the server-set metadata (name, namespace, uid, ...); ``status``
belongs to the status subresource only. Entries are sorted as the server sorts them (Apply before
Update, then by time, then by manager) and an entry's time moves only when it changes.

One emulation gap: on create the real server compares against a zero-valued Go object, whose
value structs (spec, spec.template, ...) already exist and so are never marked ``".": {}`` in an
Update entry; ``_ZERO_VALUES`` lists the ones our kinds have.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler_sandbox.errors import StatusError
from reconciler_sandbox.fieldset import (
    ABSENT,
    Path,
    child_node,
    compare,
    covers,
    from_fields_v1,
    is_atomic,
    items_by_element,
    path_string,
    remove_path,
    to_fields_v1,
    to_set,
)
from reconciler_sandbox.schemas import builtin_node, crd_node
from reconciler_sandbox.structural import Node, clone

Obj = dict[str, Any]
Manager = tuple[str, str, str]  # (manager, operation, subresource)

_NEVER_OWNED: frozenset[Path] = frozenset(
    (
        ("f:apiVersion",),
        ("f:kind",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "selfLink",
                "managedFields",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            )
        ),
    )
)
_STATUS: Path = ("f:status",)
# Fields a zero-valued Go object already has (value structs, lists without omitempty).
_ZERO_VALUES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("spec", "template"), {}),
    (("spec", "template", "metadata"), {}),
    (("spec", "template", "spec"), {}),
    (("spec", "template", "spec", "containers"), []),
    (("spec", "strategy"), {}),
)


class ListKeys:
    """The merge semantics of one kind: its compiled schema, or none (every list atomic)."""

    def __init__(self, root: Node | None) -> None:
        self.root = root

    def keys(self, path: str | Sequence[str]) -> tuple[str, ...] | None:
        """The list-map keys of the list at ``spec.template.spec.containers``; None if atomic."""
        names = path.split(".") if isinstance(path, str) else path
        node = self.root
        for name in names:
            node = child_node(node, name)
            if node is not None and node.items is not None and name != names[-1]:
                node = node.items
        if node is None or node.list_type != "map":
            return None
        return node.list_map_keys


_LIST_KEYS: dict[tuple[str, str, int], tuple[ListKeys, dict[str, Any] | None]] = {}


def list_keys_for(
    api_version: str, kind: str, crd_schema: dict[str, Any] | None = None
) -> ListKeys:
    """List semantics for a built-in kind (from its OpenAPI) or a CRD's openAPIV3Schema."""
    cache_key = (api_version, kind, id(crd_schema))
    cached = _LIST_KEYS.get(cache_key)
    if cached is not None and cached[1] is crd_schema:
        return cached[0]
    root = crd_node(crd_schema) if crd_schema is not None else builtin_node(api_version, kind)
    keys = ListKeys(root)
    # The schema is kept with the entry so its id cannot be reused by another dict.
    _LIST_KEYS[cache_key] = (keys, crd_schema)
    return keys


class ApplyConflict(StatusError):
    """409 Conflict: fields another manager owns would change."""

    def __init__(
        self, conflicts: list[tuple[str, str]], printed: dict[str, str] | None = None
    ) -> None:
        printed = printed or {}
        shown = [(printed.get(m, f'"{m}"'), path) for m, path in conflicts]
        if len(shown) == 1:
            message = f"Apply failed with 1 conflict: conflict with {shown[0][0]}: {shown[0][1]}"
        else:
            lines = []
            for who in sorted({who for who, _ in shown}):
                lines.append(f"conflicts with {who}:")
                lines += [f"- {path}" for w, path in shown if w == who]
            message = f"Apply failed with {len(shown)} conflicts: " + "\n".join(lines)
        causes = [
            {"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": path}
            for who, path in shown
        ]
        super().__init__(409, "Conflict", message, {"causes": causes})
        self.conflicts = conflicts


@dataclass
class _Entry:
    api_version: str
    time: str | None
    fields: frozenset[Path]


def apply(
    live: Obj | None, applied: Obj, manager: str, force: bool, now: str, list_keys: ListKeys
) -> Obj:
    """The object after ``manager`` applies ``applied`` to ``live`` (None: it does not exist)."""
    root = list_keys.root
    entries = _entries(live)
    body = _body(live or {})
    config = {k: v for k, v in applied.items() if k != "status"}
    if isinstance(config.get("metadata"), dict):
        config["metadata"] = {k: v for k, v in config["metadata"].items() if k != "managedFields"}
    merged = _merge(body, config, root)
    me: Manager = (manager, "Apply", "")
    new_set = frozenset(_owned(to_set(config, root), None))
    added, modified, _ = compare(body, merged, root)
    changed = added | modified
    clashes = {
        ident: entry.fields & changed
        for ident, entry in entries.items()
        if ident != me and entry.fields & changed
    }
    if clashes and not force:
        conflicts = [
            (ident[0], path_string(path))
            for ident, paths in sorted(clashes.items())
            for path in sorted(paths)
        ]
        printed = {ident[0]: _print_manager(ident, entries[ident]) for ident in clashes}
        raise ApplyConflict(conflicts, printed)
    for ident, paths in clashes.items():
        entries[ident].fields = entries[ident].fields - paths
    previous = entries.get(me)
    owned_before = previous.fields if previous else frozenset()
    others = [entry.fields for ident, entry in entries.items() if ident != me]
    _prune(merged, owned_before - new_set, set(new_set).union(*others), root)
    object_changed = merged != body
    time = previous.time if previous and previous.fields == new_set and not object_changed else now
    entries[me] = _Entry(applied.get("apiVersion", ""), time, new_set)
    merged.setdefault("metadata", {})["managedFields"] = _encode(entries)
    return merged


def record_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    now: str,
    subresource: str | None,
    list_keys: ListKeys,
) -> list[Obj]:
    """The managedFields after ``manager`` wrote ``new`` over ``old`` (None: a create)."""
    root = list_keys.root
    entries = _entries(old)
    before = _body(old) if old is not None else _zero_value(new)
    added, modified, removed = compare(before, _body(new), root)
    added, modified, removed = (_owned(s, subresource) for s in (added, modified, removed))
    for entry in entries.values():
        entry.fields = entry.fields - modified - removed
    me: Manager = (manager, "Update", subresource or "")
    previous = entries.get(me)
    fields = frozenset(
        ((previous.fields if previous else frozenset()) | added | modified) - removed
    )
    if added or modified or removed:
        entries[me] = _Entry(new.get("apiVersion", ""), now, fields)
    return _encode(entries)


def _body(obj: Obj) -> Obj:
    result = clone(obj)
    metadata = result.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return result


def _zero_value(new: Obj) -> Obj:
    base: Obj = {
        name: {} for name in ("metadata", "spec", "status") if isinstance(new.get(name), dict)
    }
    for path, zero in _ZERO_VALUES:
        source: Any = new
        for name in path:
            source = source.get(name) if isinstance(source, dict) else None
        if type(source) is not type(zero):
            continue
        target = base
        for name in path[:-1]:
            target = target.setdefault(name, {})
        target[path[-1]] = clone(zero)
    return base


def _owned(paths: set[Path], subresource: str | None) -> set[Path]:
    if subresource == "status":
        return {path for path in paths if path[:1] == _STATUS}
    return {
        path
        for path in paths
        if path[:1] != _STATUS and path[:1] not in _NEVER_OWNED and path[:2] not in _NEVER_OWNED
    }


def _merge(live: Any, applied: Any, node: Node | None) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict) and not is_atomic(node, applied):
        result = dict(live)
        for name, value in applied.items():
            result[name] = _merge(live.get(name, ABSENT), value, child_node(node, name))
        return result
    if isinstance(live, list) and isinstance(applied, list) and not is_atomic(node, applied):
        assert node is not None
        if node.list_type == "set":
            return [*live, *(v for v in applied if v not in live)]
        current, wanted = items_by_element(node, live), items_by_element(node, applied)
        merged = [
            _merge(item, wanted[element], node.items) if element in wanted else item
            for element, item in current.items()
        ]
        return merged + [clone(item) for e, item in wanted.items() if e not in current]
    return clone(applied)


def _prune(obj: Obj, dropped: frozenset[Path], owned: set[Path], root: Node | None) -> None:
    """Remove what the applier stopped applying, unless anyone (itself included) still owns it."""
    for path in sorted(dropped, key=len, reverse=True):
        if covers(owned, path) or _is_key_field(path):
            continue
        remove_path(obj, path, root)


def _is_key_field(path: Path) -> bool:
    # A list-map item's key fields go with the item, never on their own.
    if len(path) < 2 or not path[-2].startswith("k:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


def _entries(obj: Obj | None) -> dict[Manager, _Entry]:
    entries: dict[Manager, _Entry] = {}
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or ():
        ident = (raw.get("manager", ""), raw.get("operation", ""), raw.get("subresource", ""))
        fields = frozenset(from_fields_v1(raw.get("fieldsV1") or {}))
        entries[ident] = _Entry(raw.get("apiVersion", ""), raw.get("time"), fields)
    return entries


def _encode(entries: dict[Manager, _Entry]) -> list[Obj]:
    def order(item: tuple[Manager, _Entry]) -> tuple[str, str, str]:
        (manager, operation, _), entry = item
        return operation, entry.time or "", manager

    result = []
    for (manager, operation, subresource), entry in sorted(entries.items(), key=order):
        if not entry.fields:
            continue
        encoded: Obj = {
            "manager": manager,
            "operation": operation,
            "apiVersion": entry.api_version,
            "time": entry.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(entry.fields),
        }
        if subresource:
            encoded["subresource"] = subresource
        result.append(encoded)
    return result


def _print_manager(ident: Manager, entry: _Entry) -> str:
    manager, operation, subresource = ident
    text = f'"{manager}"'
    if subresource:
        text += f' with subresource "{subresource}"'
    if operation == "Update":
        text += f" using {entry.api_version}"
    return text
