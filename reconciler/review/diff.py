"""Pure structural diff of two JSON-like values into field changes with readable paths.

Paths read like ``spec.template.spec.containers[name=model].image``: maps by key, lists of
named items (containers, env, ports, volumes...) by their name, so a reordering is no change,
and other lists by index. A subtree present on one side only is one change, not one per leaf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import kinds
from reconciler.review.model import ABSENT, FieldChange

# Lists Kubernetes merges by key (its listMapKeys); other lists of maps are tried by ``name``.
_LIST_KEYS = kinds.list_keys()


def diff(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    changes: list[FieldChange] = []
    _diff(before, after, path, "", changes)
    return changes


def join(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` when the key would not read as one segment."""
    if key and key.replace("_", "").replace("-", "").isalnum():
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _diff(before: Any, after: Any, path: str, field: str, out: list[FieldChange]) -> None:
    if before is ABSENT or after is ABSENT:
        if before is not after:
            out.append(FieldChange(path, before, after))
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in _ordered_keys(before, after):
            _diff(before.get(key, ABSENT), after.get(key, ABSENT), join(path, key), key, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        _diff_list(before, after, path, field, out)
        return
    if type(before) is not type(after) or before != after:
        out.append(FieldChange(path, before, after))


def _ordered_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Keys in the order the head writes them, then the ones only the base has."""
    return [*after, *(key for key in before if key not in after)]


def _diff_list(before: list[Any], after: list[Any], path: str, field: str, out: list) -> None:
    key_name = _LIST_KEYS.get(field, "name")
    before_keyed, after_keyed = _keyed(before, key_name), _keyed(after, key_name)
    if before_keyed is not None and after_keyed is not None:
        for key in _ordered_keys(before_keyed, after_keyed):
            item_path = f"{path}[{key_name}={key}]"
            _diff(before_keyed.get(key, ABSENT), after_keyed.get(key, ABSENT), item_path, "", out)
        return
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else ABSENT
        new = after[index] if index < len(after) else ABSENT
        _diff(old, new, f"{path}[{index}]", "", out)


def _keyed(items: list[Any], key_name: str) -> dict[str, Any] | None:
    """Items by their key, or None when any item lacks it or shares it with another."""
    keyed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get(key_name), str | int):
            return None
        key = str(item[key_name])
        if key in keyed:
            return None
        keyed[key] = item
    return keyed if items else None


def project(shape: Any, value: Any, field: str = "") -> Any:
    """The part of ``value`` at the fields ``shape`` sets: what a manifest would compare.

    Named list items are matched by key, so items someone else added are left out, as
    server-side apply leaves them alone; other lists are taken whole, as apply replaces them.
    """
    if isinstance(shape, Mapping) and isinstance(value, Mapping):
        return {key: project(shape[key], value[key], key) for key in shape if key in value}
    if isinstance(shape, list) and isinstance(value, list):
        key_name = _LIST_KEYS.get(field, "name")
        shape_keyed, value_keyed = _keyed(shape, key_name), _keyed(value, key_name)
        if shape_keyed is None or value_keyed is None:
            return value
        return [
            project(item, value_keyed[key])
            for key, item in shape_keyed.items()
            if key in value_keyed
        ]
    return value
