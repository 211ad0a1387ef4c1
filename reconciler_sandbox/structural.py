"""Compiled OpenAPI schemas and the one walk that validates, prunes and defaults an object.

Both sources of schemas become the same ``Node`` tree, compiled once and cached:

- built-in kinds: kubernetes-validate's JSON schemas (``_definitions.json`` of one version), where
  a struct lists its ``properties``, a map has ``additionalProperties``, an object with neither
  (FieldsV1, RawExtension) is free-form, and ``null`` means "not set" as in Go decoding;
- custom resources: a CRD version's ``openAPIV3Schema`` with structural-schema semantics:
  unknown fields are pruned unless ``x-kubernetes-preserve-unknown-fields``, a non-nullable
  ``null`` is pruned, ``default`` fills missing fields, ``x-kubernetes-int-or-string`` and
  ``x-kubernetes-embedded-resource`` as documented for apiextensions.k8s.io/v1.

The list semantics (``x-kubernetes-list-type``/``-list-map-keys``) and the strategic-merge hints
(``x-kubernetes-patch-merge-key``/``-patch-strategy``) stay on the nodes for fieldmanager and patch.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

MISSING: Any = object()
DROP: Any = object()

_QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING_REF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
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


# Compilation ------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, definitions: dict[str, Any], builtin: bool) -> None:
        self._definitions = definitions
        self._builtin = builtin
        self._by_ref: dict[str, Node] = {}
        self._pending: list[tuple[Node, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def compile(self, schema: dict[str, Any]) -> Node:
        with self._lock:
            node = self._node(schema)
            while self._pending:
                alias, ref, overrides = self._pending.pop()
                _copy_into(alias, self._by_ref[ref])
                _extensions(alias, overrides)
            return node

    def ref(self, name: str) -> Node:
        node = self._by_ref.get(name)
        if node is None:
            node = self._by_ref[name] = Node()
            self._fill(node, self._definitions[name], name)
        return node

    def _node(self, schema: dict[str, Any]) -> Node:
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.rpartition("/")[2]
            target = self.ref(name)
            if not any(key.startswith("x-kubernetes-") for key in schema):
                return target
            # A field's own list/patch hints on a shared definition: an alias filled in later,
            # because the target may still be under construction (recursive definitions).
            alias = Node()
            self._pending.append((alias, name, schema))
            return alias
        node = Node()
        self._fill(node, schema, "")
        return node

    def _fill(self, node: Node, schema: dict[str, Any], ref: str) -> None:
        if ref == _QUANTITY_REF:
            node.quantity = True
            return
        if ref == _INT_OR_STRING_REF or schema.get("x-kubernetes-int-or-string"):
            node.int_or_string = True
            return
        kinds = schema.get("type")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or ())
        node.types = frozenset(k for k in kinds if k != "null")
        node.nullable = bool(schema.get("nullable")) and not self._builtin
        properties = schema.get("properties")
        if properties is not None:
            node.properties = {name: self._node(sub) for name, sub in properties.items()}
            node.defaults = tuple(
                (name, sub) for name, sub in node.properties.items() if sub.default is not MISSING
            )
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            node.additional = self._node(additional)
        # Built-in objects without properties (FieldsV1, RawExtension, JSON) are free-form;
        # in a structural schema the same shape prunes everything not declared.
        free_form = properties is None and additional is None and node.types <= {"object"}
        node.keep_unknown = bool(
            schema.get("x-kubernetes-preserve-unknown-fields")
            or additional is True
            or (self._builtin and free_form)
        )
        if schema.get("x-kubernetes-embedded-resource"):
            node.embedded = True
            node.properties = {**self._embedded_meta(), **(node.properties or {})}
        if "items" in schema and isinstance(schema["items"], dict):
            node.items = self._node(schema["items"])
        node.required = tuple(schema.get("required") or ())
        if "enum" in schema:
            node.enum = tuple(schema["enum"])
        if "default" in schema:
            node.default = schema["default"]
        if "pattern" in schema:
            node.pattern = re.compile(schema["pattern"])
        node.minimum = schema.get("minimum")
        node.maximum = schema.get("maximum")
        node.exclusive_minimum = bool(schema.get("exclusiveMinimum"))
        node.exclusive_maximum = bool(schema.get("exclusiveMaximum"))
        node.min_length = schema.get("minLength")
        node.max_length = schema.get("maxLength")
        node.min_items = schema.get("minItems")
        node.max_items = schema.get("maxItems")
        if not node.int_or_string:
            node.any_of = tuple(self._node(s) for s in schema.get("anyOf") or ())
            node.one_of = tuple(self._node(s) for s in schema.get("oneOf") or ())
        node.all_of = tuple(self._node(s) for s in schema.get("allOf") or ())
        if isinstance(schema.get("not"), dict):
            node.not_ = self._node(schema["not"])
        _extensions(node, schema)

    def _embedded_meta(self) -> dict[str, Node]:
        string = Node(types=frozenset({"string"}))
        return {"apiVersion": string, "kind": string, "metadata": object_meta()}


def _copy_into(alias: Node, target: Node) -> None:
    for name in Node.__dataclass_fields__:
        setattr(alias, name, getattr(target, name))


def _extensions(node: Node, schema: dict[str, Any]) -> None:
    if "x-kubernetes-list-type" in schema:
        node.list_type = schema["x-kubernetes-list-type"]
    if "x-kubernetes-list-map-keys" in schema:
        node.list_map_keys = tuple(schema["x-kubernetes-list-map-keys"])
    if "x-kubernetes-map-type" in schema:
        node.map_type = schema["x-kubernetes-map-type"]
    if "x-kubernetes-patch-merge-key" in schema:
        node.patch_merge_key = schema["x-kubernetes-patch-merge-key"]
    if "x-kubernetes-patch-strategy" in schema:
        node.patch_strategy = tuple(schema["x-kubernetes-patch-strategy"].split(","))


# Schema sources ---------------------------------------------------------------------------

DEFAULT_KUBERNETES_VERSION = "1.33.0"


@functools.cache
def _builtin_compiler(version: str) -> tuple[_Compiler, dict[tuple[str, str], str]]:
    base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    folder = base.joinpath(f"v{version}-local-strict")
    if not folder.is_dir():
        available = sorted(p.name for p in base.iterdir() if p.name.endswith("-local-strict"))
        raise ValueError(f"no schemas for Kubernetes {version}; available: {', '.join(available)}")
    definitions = json.loads(folder.joinpath("_definitions.json").read_text())["$defs"]
    by_kind: dict[tuple[str, str], str] = {}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            group, version_, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version_}" if group else version_
            by_kind.setdefault((api_version, kind), name)
    return _Compiler(definitions, builtin=True), by_kind


def builtin_node(
    api_version: str, kind: str, version: str = DEFAULT_KUBERNETES_VERSION
) -> Node | None:
    """The compiled schema of a built-in kind, or None when the version does not serve it."""
    compiler, by_kind = _builtin_compiler(version)
    name = by_kind.get((api_version, kind))
    return None if name is None else compiler.compile({"$ref": f"#/$defs/{name}"})


def object_meta(version: str = DEFAULT_KUBERNETES_VERSION) -> Node:
    compiler, _ = _builtin_compiler(version)
    return compiler.compile({"$ref": f"#/$defs/{_OBJECT_META_REF}"})


def crd_node(schema: dict[str, Any], version: str = DEFAULT_KUBERNETES_VERSION) -> Node:
    """A CRD version's openAPIV3Schema compiled; metadata is always the built-in ObjectMeta."""
    node = _Compiler({}, builtin=False).compile(schema)
    string = Node(types=frozenset({"string"}))
    node.properties = {
        **(node.properties or {}),
        "apiVersion": string,
        "kind": string,
        "metadata": object_meta(version),
    }
    node.defaults = tuple(
        (name, sub) for name, sub in node.properties.items() if sub.default is not MISSING
    )
    return node
