"""OpenAPI schemas compiled into ``structural.Node`` trees.

Two sources: built-in kinds from kubernetes-validate's JSON schemas (``_definitions.json`` of one
Kubernetes version, a struct listing its ``properties``, a map its ``additionalProperties``),
compiled once per version and kept; and a CRD version's ``openAPIV3Schema``, compiled when its
CRD is registered, whose metadata is always the built-in ObjectMeta. A ``$ref`` target is
compiled once and shared, recursive definitions included.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from importlib import resources
from typing import Any

from reconciler_sandbox.structural import MISSING, Node

_QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING_REF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


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
