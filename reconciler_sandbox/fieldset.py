"""Field sets as structured-merge-diff computes them, and their FieldsV1 encoding.

A path is a tuple of elements spelled as in FieldsV1: ``f:<field>``, ``k:<compact JSON of the
key fields, sorted>``, ``v:<JSON value>`` (set items), ``i:<index>``. A set holds the paths that
are *members* (owned); their ancestors are implied. FieldsV1 writes a member that also has owned
children with a ``".": {}`` entry.

How a list or map merges comes from the schema node (``structural.Node``): list-type ``map``
lists are keyed by their list-map keys, ``set`` lists by value, everything else (and every list
of a field without schema) is atomic; ``x-kubernetes-map-type: atomic`` objects are owned whole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from reconciler_sandbox.structural import Node

Path = tuple[str, ...]
FieldSet = frozenset[Path]
ABSENT: Any = object()

# Key fields the server defaults before the set is computed (container and Service ports).
_KEY_DEFAULTS = {"protocol": "TCP"}


def child_node(node: Node | None, name: str) -> Node | None:
    return None if node is None else node.child(name)


def is_atomic(node: Node | None, value: Any) -> bool:
    if isinstance(value, dict):
        return node is not None and (node.map_type == "atomic" or node.int_or_string)
    if isinstance(value, list):
        return node is None or node.list_type not in ("map", "set")
    return True


def item_element(node: Node, item: Any, index: int) -> str:
    """The path element of a list item: its key, its value (sets) or, failing both, index."""
    if node.list_type == "set":
        return "v:" + _compact(item)
    if node.list_type == "map" and isinstance(item, dict):
        keys = tuple((k, item.get(k, _KEY_DEFAULTS.get(k))) for k in node.list_map_keys)
        try:
            return _key_element(keys)
        except TypeError:  # an unhashable key value: valid JSON, just not cacheable
            return _key_element.__wrapped__(keys)
    return f"i:{index}"


@functools.lru_cache(maxsize=4096)
def _key_element(keys: tuple[tuple[str, Any], ...]) -> str:
    # Encoding keys is the hot spot of apply; the same few keys recur on every request.
    return "k:" + _compact({k: v for k, v in keys if v is not None})


def items_by_element(node: Node, items: list[Any]) -> dict[str, Any]:
    return {item_element(node, item, i): item for i, item in enumerate(items)}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def to_set(value: Any, node: Node | None, prefix: Path = (), every: bool = False) -> set[Path]:
    """The member paths of ``value``: SMD's ToFieldSet (empty granular maps own nothing).

    ``every`` also makes each granular map and list a member, as a comparison marks a subtree
    that was added or removed as a whole.
    """
    found: set[Path] = set()
    _collect(value, node, prefix, found, every)
    return found


def _collect(value: Any, node: Node | None, path: Path, found: set[Path], every: bool) -> None:
    if is_atomic(node, value) or (every and path):
        if path:
            found.add(path)
        if is_atomic(node, value):
            return
    if isinstance(value, dict):
        for name, item in value.items():
            child = child_node(node, name)
            # A field the schema prunes is never stored, so nobody can own it.
            if child is not None or node is None or node.keep_unknown:
                _collect(item, child, (*path, f"f:{name}"), found, every)
        return
    assert node is not None
    for index, item in enumerate(value):
        item_path = (*path, item_element(node, item, index))
        found.add(item_path)
        if node.list_type == "map":
            _collect(item, node.items, item_path, found, every)


def compare(
    old: Any, new: Any, node: Node | None, path: Path = ()
) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed) member paths from ``old`` to ``new`` (ABSENT: not there)."""
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    _compare(old, new, node, path, added, modified, removed)
    return added, modified, removed


def _compare(
    old: Any,
    new: Any,
    node: Node | None,
    path: Path,
    added: set[Path],
    modified: set[Path],
    removed: set[Path],
) -> None:
    if old is ABSENT:
        added.update(to_set(new, node, path, every=True))
        return
    if new is ABSENT:
        removed.update(to_set(old, node, path, every=True))
        return
    granular = (isinstance(old, dict) and isinstance(new, dict) and not is_atomic(node, new)) or (
        isinstance(old, list) and isinstance(new, list) and not is_atomic(node, new)
    )
    if not granular:
        if old != new and path:
            modified.add(path)
        return
    if isinstance(new, dict):
        for name in {**old, **new}:
            _compare(
                old.get(name, ABSENT),
                new.get(name, ABSENT),
                child_node(node, name),
                (*path, f"f:{name}"),
                added,
                modified,
                removed,
            )
        return
    assert node is not None
    before, after = items_by_element(node, old), items_by_element(node, new)
    items = node.items if node.list_type == "map" else None
    for element in {**before, **after}:
        item_path = (*path, element)
        old_item, new_item = before.get(element, ABSENT), after.get(element, ABSENT)
        if node.list_type == "set":
            if old_item is ABSENT:
                added.add(item_path)
            elif new_item is ABSENT:
                removed.add(item_path)
            continue
        _compare(old_item, new_item, items, item_path, added, modified, removed)


def covers(owned: set[Path] | FieldSet, path: Path) -> bool:
    """Whether ``path`` or something below it is owned."""
    size = len(path)
    return any(p[:size] == path for p in owned)


def to_fields_v1(paths: set[Path] | FieldSet) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    members = set(paths)
    return _ordered(tree, (), members)


def _ordered(tree: dict[str, Any], path: Path, members: set[Path]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if path in members and tree:
        result["."] = {}
    for element in sorted(tree, key=_element_order):
        result[element] = _ordered(tree[element], (*path, element), members)
    return result


def _element_order(element: str) -> tuple[int, str]:
    return ("fkvi".index(element[0]), element[2:])


def from_fields_v1(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, children in fields.items():
        if element == ".":
            paths.add(prefix)
            continue
        path = (*prefix, element)
        if children:
            paths.update(from_fields_v1(children, path))
        else:
            paths.add(path)
    return paths


def path_string(path: Path) -> str:
    """The path as SMD prints it in conflicts: ``.spec.containers[name="web"].image``."""
    parts = []
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            parts.append(f".{text}")
        elif kind == "k":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_compact(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def value_at(obj: Any, path: Path, node: Node | None) -> Any:
    """The value a path points at in ``obj``, or ABSENT."""
    for element in path:
        if element.startswith("f:"):
            if not isinstance(obj, dict) or element[2:] not in obj:
                return ABSENT
            obj, node = obj[element[2:]], child_node(node, element[2:])
        else:
            if not isinstance(obj, list) or node is None:
                return ABSENT
            obj = items_by_element(node, obj).get(element, ABSENT)
            node = node.items
            if obj is ABSENT:
                return ABSENT
    return obj


def remove_path(obj: Any, path: Path, node: Node | None) -> None:
    """Delete what ``path`` points at, dropping maps the removal leaves empty."""
    if not path:
        return
    parents = list(_descend(obj, path[:-1], node))
    if len(parents) != len(path):
        return
    container, container_node = parents[-1]
    element = path[-1]
    if element.startswith("f:"):
        if isinstance(container, dict):
            container.pop(element[2:], None)
    elif isinstance(container, list) and container_node is not None:
        container[:] = [
            item
            for i, item in enumerate(container)
            if item_element(container_node, item, i) != element
        ]
    for (parent, _), (child, _), step in zip(
        reversed(parents[:-1]), reversed(parents[1:]), reversed(path[:-1]), strict=True
    ):
        if child or not isinstance(parent, dict) or not step.startswith("f:"):
            break
        parent.pop(step[2:], None)


def _descend(obj: Any, path: Path, node: Node | None) -> Iterator[tuple[Any, Node | None]]:
    yield obj, node
    for element in path:
        if element.startswith("f:"):
            if not isinstance(obj, dict) or element[2:] not in obj:
                return
            obj, node = obj[element[2:]], child_node(node, element[2:])
        else:
            if not isinstance(obj, list) or node is None:
                return
            found = items_by_element(node, obj).get(element, ABSENT)
            if found is ABSENT:
                return
            obj, node = found, node.items
        yield obj, node
