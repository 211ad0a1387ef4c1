"""OpenAPI v3: the index at ``/openapi/v3`` and one document per served group-version.

Component schemas of built-in kinds come from the JSON schemas shipped with
``kubernetes-validate`` (``$ref``s rewritten to ``#/components/schemas``, ``[T, "null"]`` types to
``T``); custom resources use their CRD's ``openAPIV3Schema``. Every resource path has its
operations tagged with ``x-kubernetes-group-version-kind``, and each PATCH operation lists the
``fieldValidation``, ``dryRun``, ``fieldManager`` and ``force`` query parameters: kubectl reads
exactly that to decide it may send ``fieldValidation=Strict`` and ``dryRun=All``.

Documents are built on first request and cached per registry revision, so a CRD change
invalidates them (and changes the ``hash`` in the index, which clients use as a cache key).
"""

from __future__ import annotations

import hashlib
import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate

from reconciler_sandbox import errors
from reconciler_sandbox.discovery import Registry, ResourceType
from reconciler_sandbox.store import dumps

Obj = dict[str, Any]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@cache
def _definitions() -> dict[str, Obj]:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    newest = max(
        (p for p in root.iterdir() if p.name.endswith("-local")),
        key=lambda p: tuple(int(x) for x in p.name[1:].split("-")[0].split(".")),
    )
    return json.loads((newest / "_definitions.json").read_text())["$defs"]


def _convert(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/$defs/", "#/components/schemas/")
            elif key == "type" and isinstance(value, list):
                kinds = [t for t in value if t != "null"]
                out[key] = kinds[0] if len(kinds) == 1 else kinds
            else:
                out[key] = _convert(value)
        return out
    if isinstance(node, list):
        return [_convert(item) for item in node]
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def _closure(names: set[str]) -> dict[str, Obj]:
    defs = _definitions()
    out: dict[str, Obj] = {}
    pending = [n for n in names if n in defs]
    while pending:
        name = pending.pop()
        if name in out:
            continue
        out[name] = _convert(defs[name])
        found: set[str] = set()
        _refs(out[name], found)
        pending.extend(n for n in found if n in defs and n not in out)
    return out


def _schema_name(rt: ResourceType) -> str:
    if not rt.custom:
        for name, schema in _definitions().items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                if (gvk["group"], gvk["version"], gvk["kind"]) == (rt.group, rt.version, rt.kind):
                    return name
    domain = ".".join(reversed(rt.group.split(".")))
    return f"{domain}.{rt.version}.{rt.kind}"


class OpenApi:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._docs: dict[tuple[str, int], bytes] = {}

    def index(self) -> bytes:
        revision = self.registry.revision
        paths = {}
        for gv in sorted({rt.api_version for rt in self.registry.all_types()}):
            prefix = "api/v1" if gv == "v1" else f"apis/{gv}"
            digest = hashlib.sha512(f"{gv}@{revision}".encode()).hexdigest()[:64].upper()
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
        return dumps({"paths": paths})

    def document(self, prefix: str) -> bytes:
        gv = "v1" if prefix == "api/v1" else prefix.removeprefix("apis/")
        if not self.registry.served(gv) or (gv == "v1") != (prefix == "api/v1"):
            raise errors.path_not_found()
        key = (gv, self.registry.revision)
        with self._lock:
            if key not in self._docs:
                if len(self._docs) > 64:
                    self._docs.clear()
                self._docs[key] = dumps(self._build(gv))
            return self._docs[key]

    def _build(self, gv: str) -> Obj:
        types = [rt for rt in self.registry.all_types() if rt.api_version == gv]
        roots: set[str] = {OBJECT_META, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
        custom: dict[str, Obj] = {}
        paths: dict[str, Obj] = {}
        for rt in types:
            name = _schema_name(rt)
            if rt.custom:
                custom[name] = _custom_schema(rt)
            else:
                roots.add(name)
            paths.update(_paths(rt, name))
        schemas = _closure(roots)
        schemas.update(custom)
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "1.33"},
            "paths": paths,
            "components": {"schemas": schemas},
        }


def _custom_schema(rt: ResourceType) -> Obj:
    schema = dict(rt.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    props = dict(schema.get("properties") or {})
    props["metadata"] = {"$ref": f"#/components/schemas/{OBJECT_META}"}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["properties"] = props
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ]
    return schema


def _param(name: str, where: str = "query") -> Obj:
    return {"name": name, "in": where, "schema": {"type": "string", "uniqueItems": True}}


def _op(
    rt: ResourceType, action: str, schema: str, params: tuple[str, ...], body: tuple[str, ...] = ()
) -> Obj:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    op: Obj = {
        "operationId": f"{action}{rt.kind}",
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
    }
    if body:
        op["requestBody"] = {"content": {t: {"schema": ref} for t in body}, "required": True}
    return op


def _paths(rt: ResourceType, schema: str) -> dict[str, Obj]:
    base = rt.path("{namespace}" if rt.namespaced else None)
    scope = [_param("namespace", "path")] if rt.namespaced else []
    item = {
        "get": _op(rt, "get", schema, ()),
        "put": _op(rt, "put", schema, _WRITE_PARAMS, ("application/json",)),
        "patch": _op(rt, "patch", schema, _PATCH_PARAMS, _PATCH_TYPES),
        "delete": _op(rt, "delete", schema, ("dryRun", "propagationPolicy")),
        "parameters": [*scope, _param("name", "path")],
    }
    collection = {
        "get": _op(
            rt, "list", schema, ("labelSelector", "fieldSelector", "limit", "continue", "watch")
        ),
        "post": _op(rt, "post", schema, _WRITE_PARAMS, ("application/json",)),
        "parameters": scope,
    }
    out = {base: collection, base + "/{name}": item}
    if rt.has_status:
        out[base + "/{name}/status"] = {
            "get": _op(rt, "get", schema, ()),
            "put": _op(rt, "put", schema, _WRITE_PARAMS, ("application/json",)),
            "patch": _op(rt, "patch", schema, _PATCH_PARAMS, _PATCH_TYPES),
            "parameters": item["parameters"],
        }
    return out
