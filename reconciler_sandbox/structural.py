"""The one walk that validates, prunes and defaults an object against a compiled schema.

A schema is a tree of ``Node`` (compiled by ``schemas``), with the semantics of its source:

- built-in kinds: kubernetes-validate's JSON schemas, where an object with neither properties
  nor additionalProperties (FieldsV1, RawExtension) is free-form, and ``null`` means "not set"
  as in Go decoding;
- custom resources: a CRD version's ``openAPIV3Schema`` with structural-schema semantics:
  unknown fields are pruned unless ``x-kubernetes-preserve-unknown-fields``, a non-nullable
  ``null`` is pruned, ``default`` fills missing fields, ``x-kubernetes-int-or-string`` and
  ``x-kubernetes-embedded-resource`` as documented for apiextensions.k8s.io/v1.

The list semantics (``x-kubernetes-list-type``/``-list-map-keys``) and the strategic-merge hints
(``x-kubernetes-patch-merge-key``/``-patch-strategy``) stay on the nodes for fieldmanager and patch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MISSING: Any = object()
DROP: Any = object()

# The API server's own quantity syntax check (resource.ParseQuantity's error message).
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


@dataclass(frozen=True)
class Cause:
    """One field error, as in a Status' details.causes."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(eq=False)
class Node:
    types: frozenset[str] = frozenset()
    nullable: bool = False
    properties: dict[str, Node] | None = None
    additional: Node | None = None
    keep_unknown: bool = False
    embedded: bool = False
    items: Node | None = None
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    int_or_string: bool = False
    quantity: bool = False
    default: Any = MISSING
    pattern: re.Pattern[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    any_of: tuple[Node, ...] = ()
    all_of: tuple[Node, ...] = ()
    one_of: tuple[Node, ...] = ()
    not_: Node | None = None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    patch_merge_key: str | None = None
    patch_strategy: tuple[str, ...] = ()
    map_type: str | None = None
    defaults: tuple[tuple[str, Node], ...] = field(default=(), repr=False)

    def child(self, name: str) -> Node | None:
        """The schema of field or map entry ``name`` of this object."""
        if self.properties is not None and name in self.properties:
            return self.properties[name]
        return self.additional


@dataclass
class Walk:
    """What one walk found: unknown field paths and schema violations."""

    apply_defaults: bool = True
    unknown: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)


def walk(node: Node, value: Any, path: str, found: Walk) -> Any:
    """``value`` pruned (and defaulted) by ``node``; DROP when the field should disappear."""
    if value is None:
        return None if node.nullable else DROP
    kind = json_type(value)
    if node.int_or_string:
        if kind not in ("integer", "string"):
            _type_error(found, path, kind, "integer or string")
        return value
    if node.quantity:
        if kind not in ("integer", "number", "string"):
            _type_error(found, path, kind, "string")
        elif kind == "string" and not _QUANTITY.match(value):
            found.causes.append(
                Cause(
                    path, "FieldValueInvalid", f"Invalid value: {show(value)}: {_QUANTITY_MESSAGE}"
                )
            )
        return value
    if node.types and kind not in node.types and not (kind == "integer" and "number" in node.types):
        _type_error(found, path, kind, "/".join(sorted(node.types)))
        return value
    if kind == "object":
        value = _walk_object(node, value, path, found)
    elif kind == "array":
        value = _walk_array(node, value, path, found)
    else:
        _check_scalar(node, value, kind, path, found)
    if node.enum is not None and value not in node.enum:
        supported = ", ".join(show(v) for v in node.enum)
        found.causes.append(
            Cause(
                path,
                "FieldValueNotSupported",
                f"Unsupported value: {show(value)}: supported values: {supported}",
            )
        )
    if node.any_of or node.all_of or node.one_of or node.not_ is not None:
        _check_combinators(node, value, path, found)
    return value


def _walk_object(node: Node, value: dict[str, Any], path: str, found: Walk) -> dict[str, Any]:
    result: dict[str, Any] = {}
    properties = node.properties or {}
    prefix = f"{path}." if path else ""
    for name, item in value.items():
        child = properties.get(name)
        if child is not None:
            child_path = prefix + name
        elif node.additional is not None:
            child, child_path = node.additional, f"{path}[{name}]"
        elif node.keep_unknown:
            result[name] = clone(item)
            continue
        else:
            found.unknown.append(prefix + name)
            continue
        out = walk(child, item, child_path, found)
        if out is not DROP:
            result[name] = out
    if found.apply_defaults:
        for name, child in node.defaults:
            if name not in result:
                result[name] = walk(child, clone(child.default), prefix + name, found)
    for name in node.required:
        if name not in result:
            found.causes.append(Cause(prefix + name, "FieldValueRequired", "Required value"))
    return result


def _walk_array(node: Node, value: list[Any], path: str, found: Walk) -> list[Any]:
    result = clone(value)
    if node.items is not None:
        result = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if item is None and not node.items.nullable:
                _type_error(found, item_path, "null", "/".join(sorted(node.items.types)) or "any")
                result.append(item)
                continue
            result.append(walk(node.items, item, item_path, found))
    if node.min_items is not None and len(result) < node.min_items:
        found.causes.append(
            Cause(
                path,
                "FieldValueInvalid",
                f"Invalid value: {len(result)}: {path} in body should have at least "
                f"{node.min_items} items",
            )
        )
    if node.max_items is not None and len(result) > node.max_items:
        found.causes.append(
            Cause(
                path,
                "FieldValueTooMany",
                f"Too many: {len(result)}: must have at most {node.max_items} items",
            )
        )
    if node.list_type in ("map", "set"):
        _check_unique(node, result, path, found)
    return result


def _check_unique(node: Node, items: list[Any], path: str, found: Walk) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if node.list_type == "map" and isinstance(item, dict):
            identity: Any = {k: item.get(k) for k in node.list_map_keys}
        else:
            identity = item
        key = json.dumps(identity, sort_keys=True)
        if key in seen:
            found.causes.append(
                Cause(f"{path}[{index}]", "FieldValueDuplicate", f"Duplicate value: {key}")
            )
        seen.add(key)


def _check_scalar(node: Node, value: Any, kind: str, path: str, found: Walk) -> None:
    if kind == "string":
        if node.pattern is not None and not node.pattern.search(value):
            found.causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {path} in body should match "
                    f"'{node.pattern.pattern}'",
                )
            )
        if node.max_length is not None and len(value) > node.max_length:
            found.causes.append(
                Cause(
                    path,
                    "FieldValueTooLong",
                    f"Too long: may not be more than {node.max_length} bytes",
                )
            )
        if node.min_length is not None and len(value) < node.min_length:
            found.causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {path} in body should be at least "
                    f"{node.min_length} chars long",
                )
            )
    elif kind in ("integer", "number"):
        low, high = node.minimum, node.maximum
        if low is not None and (value < low or (node.exclusive_minimum and value == low)):
            relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
            found.causes.append(_bound(path, value, relation, low))
        if high is not None and (value > high or (node.exclusive_maximum and value == high)):
            relation = "less than" if node.exclusive_maximum else "less than or equal to"
            found.causes.append(_bound(path, value, relation, high))


def _bound(path: str, value: Any, relation: str, limit: float) -> Cause:
    shown = int(limit) if float(limit).is_integer() else limit
    return Cause(
        path,
        "FieldValueInvalid",
        f"Invalid value: {show(value)}: {path} in body should be {relation} {shown}",
    )


def _check_combinators(node: Node, value: Any, path: str, found: Walk) -> None:
    def passes(branch: Node) -> bool:
        probe = Walk(apply_defaults=False)
        walk(branch, value, path, probe)
        return not probe.causes

    failed = (
        (node.any_of and not any(passes(b) for b in node.any_of))
        or (node.one_of and sum(passes(b) for b in node.one_of) != 1)
        or (node.not_ is not None and passes(node.not_))
    )
    for branch in node.all_of:
        probe = Walk(apply_defaults=False)
        walk(branch, value, path, probe)
        found.causes.extend(probe.causes)
    if failed:
        found.causes.append(
            Cause(
                path,
                "FieldValueInvalid",
                f"Invalid value: {show(value)}: {path} in body is invalid",
            )
        )


def _type_error(found: Walk, path: str, kind: str, expected: str) -> None:
    found.causes.append(
        Cause(
            path,
            "FieldValueTypeInvalid",
            f'Invalid value: "{kind}": {path} in body must be of type {expected}: "{kind}"',
        )
    )


def clone(value: Any) -> Any:
    """A deep copy of JSON data, several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    return "null"


def show(value: Any) -> str:
    """A value as Go's field errors print it: strings quoted, numbers bare, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
