"""Validation of incoming objects the way kube-apiserver decodes and validates them.

One pass over the object with its compiled schema (see ``structural``) drops unknown fields,
applies CRD defaults and collects schema violations; ``semantic`` adds the rules the schema cannot
say (DNS names, label syntax, container names, annotation size, ...). Then, as on a cluster:

- unknown fields: ``fieldValidation=Strict`` fails with 400 BadRequest
  ``strict decoding error: unknown field "spec.foo"``; ``Warn`` returns the warning
  ``unknown field "spec.foo"``; ``Ignore`` drops them silently (custom resources prune the same);
- violations: 422 Invalid with one cause per field, ``Kind.group "name" is invalid: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler_sandbox.errors import StatusError
from reconciler_sandbox.schemas import DEFAULT_KUBERNETES_VERSION, builtin_node, crd_node
from reconciler_sandbox.semantic import check_object
from reconciler_sandbox.structural import DROP, Cause, Node, Walk, clone, walk

Obj = dict[str, Any]
MODES = ("Strict", "Warn", "Ignore")

__all__ = ["MODES", "Cause", "InvalidObject", "ValidationResult", "Validator"]


@dataclass(frozen=True)
class ValidationResult:
    """The object as the server would store it, and the warnings for the response header."""

    obj: Obj
    warnings: list[str]


class InvalidObject(StatusError):
    """400 for strict decoding errors, 422 with ``causes`` for invalid fields."""

    def __init__(
        self,
        causes: list[Cause],
        code: int = 422,
        message: str = "",
        *,
        kind: str = "",
        group: str = "",
        name: str = "",
    ) -> None:
        if not message:
            parts = [str(c) for c in causes]
            summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
            qualified = f"{kind}.{group}" if group else kind
            message = f'{qualified} "{name}" is invalid: {summary}'
        details: dict[str, Any] | None = None
        if code == 422:
            details = {"name": name, **({"group": group} if group else {}), "kind": kind}
            details["causes"] = [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
            ]
        super().__init__(code, "Invalid" if code == 422 else "BadRequest", message, details)
        self.causes = causes


class Validator:
    """Schemas of one Kubernetes version plus the registered CRDs, compiled once and cached."""

    def __init__(self, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> None:
        self.kubernetes_version = kubernetes_version
        self._builtin: dict[tuple[str, str], Node | None] = {}
        self._custom: dict[tuple[str, str], Node] = {}
        self._crd_kinds: dict[str, list[tuple[str, str]]] = {}
        builtin_node("v1", "Namespace", kubernetes_version)  # fail early on an unknown version

    def register_crd(self, crd: Obj) -> None:
        """Serve (or re-serve, replacing) the versions of ``crd`` with their schemas."""
        name = crd["metadata"]["name"]
        self.unregister_crd(name)
        spec = crd["spec"]
        kinds = []
        for version in spec.get("versions") or ():
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            self._custom[key] = crd_node(schema, self.kubernetes_version)
            kinds.append(key)
        self._crd_kinds[name] = kinds

    def unregister_crd(self, name: str) -> None:
        for key in self._crd_kinds.pop(name, ()):
            self._custom.pop(key, None)

    def schema(self, api_version: str, kind: str) -> Node | None:
        """The compiled schema for a kind (also what fieldmanager and patch use for list keys)."""
        key = (api_version, kind)
        if key in self._custom:
            return self._custom[key]
        if key not in self._builtin:
            self._builtin[key] = builtin_node(api_version, kind, self.kubernetes_version)
        return self._builtin[key]

    def validate(self, obj: Obj, mode: str = "Strict") -> ValidationResult:
        """The object pruned (and CRD-defaulted), or InvalidObject; kinds without schema pass."""
        if mode not in MODES:
            raise InvalidObject(
                [], 400, f'fieldValidation must be one of "Ignore", "Warn", "Strict", got "{mode}"'
            )
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        node = self.schema(api_version, kind)
        if node is None:
            return ValidationResult(clone(obj), [])
        found = Walk()
        result = walk(node, obj, "", found)
        if result is DROP:
            result = {}
        warnings = [f'unknown field "{path}"' for path in found.unknown]
        if warnings and mode == "Strict":
            version = api_version.rpartition("/")[2]
            raise InvalidObject(
                [],
                400,
                f'{kind} in version "{version}" cannot be handled as a {kind}: '
                "strict decoding error: " + ", ".join(warnings),
            )
        causes = found.causes + check_object(
            result, builtin=(api_version, kind) not in self._custom
        )
        if causes:
            group = api_version.rpartition("/")[0]
            name = (result.get("metadata") or {}).get("name", "")
            raise InvalidObject(causes, kind=kind, group=group, name=name)
        return ValidationResult(result, warnings if mode == "Warn" else [])
