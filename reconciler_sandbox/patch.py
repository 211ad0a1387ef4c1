"""The three PATCH formats: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch.

Each returns a new object and never mutates its input. Strategic merge follows the Go
implementation (apimachinery/pkg/util/strategicpatch) for built-in kinds, reading the merge keys
and strategies from their OpenAPI (``x-kubernetes-patch-merge-key``/``-patch-strategy``): lists
with strategy ``merge`` merge by key (containers by name, ports by containerPort, ...) or, for
scalars, by value; every other list is replaced. Directives: ``$patch: replace|delete|merge``
on maps and list items, ``$retainKeys``, ``$setElementOrder/<list>``,
``$deleteFromPrimitiveList/<list>``; a null deletes a key. Custom resources have no strategic
merge (415), as on a real server.
"""

from __future__ import annotations

from typing import Any

import structlog

from reconciler_sandbox.errors import StatusError
from reconciler_sandbox.schemas import builtin_node
from reconciler_sandbox.structural import Node, clone

log = structlog.get_logger("reconciler_sandbox")
Obj = dict[str, Any]
_DELETE: Any = object()
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(StatusError):
    """422 when a well-formed patch does not apply, 400 when the patch itself is malformed."""

    def __init__(self, message: str, code: int = 422) -> None:
        reason = {400: "BadRequest", 415: "UnsupportedMediaType"}.get(code, "Invalid")
        if code == 422:
            # kube-apiserver words every patch that does not apply alike; the detail is logged.
            log.info("patch does not apply", reason=message)
            message = "the server rejected our request due to an error in our request"
        super().__init__(code, reason, message, {})


# JSON patch ---------------------------------------------------------------------------------


def json_patch(obj: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902: add, remove, replace, move, copy, test, applied in order."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc: Any = clone(obj)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid json patch operation: {op!r}", 400)
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, clone(_value(op)))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path, "replace")
            doc = _add(doc, path, clone(_value(op)))
        elif kind in ("move", "copy"):
            source = op.get("from")
            if source is None:
                raise PatchError(f"{kind} operation needs a from", 400)
            value = _get(doc, source, kind)
            if kind == "move":
                doc, _ = _remove(doc, source, "move")
            doc = _add(doc, path, clone(value))
        elif kind == "test":
            if _get(doc, path, "test") != _value(op):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}", 400)
    return doc


def _value(op: Obj) -> Any:
    if "value" not in op:
        raise PatchError(f"{op['op']} operation needs a value", 400)
    return op["value"]


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} must start with /", 400)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _parent(doc: Any, pointer: str, verb: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError(f"{verb} operation does not apply: the whole document cannot be used")
    node = doc
    for token in tokens[:-1]:
        node = _step(node, token, pointer, verb)
    return node, tokens[-1]


def _step(node: Any, token: str, pointer: str, verb: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise PatchError(
        f'{verb} operation does not apply: doc is missing path: "{pointer}": missing value'
    )


def _get(doc: Any, pointer: str, verb: str) -> Any:
    node = doc
    for token in _tokens(pointer):
        node = _step(node, token, pointer, verb)
    return node


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _parent(doc, pointer, "add")
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        if token == "-":
            parent.append(value)
        elif token.isdigit() and int(token) <= len(parent):
            parent.insert(int(token), value)
        else:
            raise PatchError(f'add operation does not apply: index out of range: "{pointer}"')
    else:
        raise PatchError(
            f'add operation does not apply: doc is missing path: "{pointer}": missing value'
        )
    return doc


def _remove(doc: Any, pointer: str, verb: str = "remove") -> tuple[Any, Any]:
    parent, token = _parent(doc, pointer, verb)
    if isinstance(parent, dict) and token in parent:
        return doc, parent.pop(token)
    if isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
        return doc, parent.pop(int(token))
    if verb == "remove":
        raise PatchError(f"Unable to remove nonexistent key: {token}: missing value")
    raise PatchError(
        f"{verb} operation does not apply: doc is missing key: {pointer}: missing value"
    )


# Merge patch --------------------------------------------------------------------------------


def merge_patch(obj: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Strategic merge patch ----------------------------------------------------------------------


def strategic_merge_patch(obj: Obj, patch: Obj, api_version: str, kind: str) -> Obj:
    """Kubernetes' strategic merge patch of a built-in kind."""
    node = builtin_node(api_version, kind)
    if node is None:
        raise PatchError("strategic merge patch format is not supported", 415)
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    result = _merge_map(clone(obj), patch, node)
    return {} if result is _DELETE else result


def _merge_map(original: Obj, patch: Obj, node: Node | None) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive} in map: {patch}", 400)
    retain = patch.get("$retainKeys")
    if retain is not None:
        original = {k: v for k, v in original.items() if k in retain}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child = node.child(key) if node is not None else None
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict) and isinstance(original.get(key), dict):
            merged = _merge_map(original[key], value, child)
            if merged is _DELETE:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] = _merge_list(original[key], value, child)
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            original.pop(key, None)
        else:
            original[key] = _strip(value)
    for key, values in patch.items():
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            original[name] = [v for v in original.get(name) or () if v not in values]
    for key, order in patch.items():
        if key.startswith(_SET_ORDER):
            name = key[len(_SET_ORDER) :]
            child = node.child(name) if node is not None else None
            if isinstance(original.get(name), list):
                original[name] = _reorder(original[name], order, child)
    return original


def _merge_list(original: list[Any], patch: list[Any], node: Node | None) -> list[Any]:
    if node is None or "merge" not in node.patch_strategy:
        return _strip(patch)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return _strip([i for i in patch if not (isinstance(i, dict) and "$patch" in i)])
    key = node.patch_merge_key
    if key is None:
        return original + [v for v in patch if v not in original]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}", 400)
        index = next((i for i, o in enumerate(result) if o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            result = [o for o in result if o.get(key) != item[key]]
        elif index is None:
            result.append(_strip(item))
        else:
            merged = _merge_map(result[index], item, node.items)
            if merged is _DELETE:
                del result[index]
            else:
                result[index] = merged
    return result


def _reorder(items: list[Any], order: list[Any], node: Node | None) -> list[Any]:
    key = node.patch_merge_key if node is not None else None

    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [identity(o) for o in order]
    placed = sorted(
        (i for i in items if identity(i) in wanted), key=lambda i: wanted.index(identity(i))
    )
    return placed + [i for i in items if identity(i) not in wanted]


def _strip(value: Any) -> Any:
    """A patch fragment without directives, as it lands in the object."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
