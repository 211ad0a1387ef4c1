"""CustomResourceDefinitions: the resources one serves and the status the server gives it.

A real cluster's apiextensions controllers set ``NamesAccepted`` and ``Established`` a moment
after the CRD is created; the sandbox sets both (with ``acceptedNames`` and ``storedVersions``)
in the same write, so a custom resource can be created as soon as its CRD exists. Only the
``status`` subresource of custom resources is served (``scale`` is not emulated) and no
conversion happens between versions: every served version reads the same stored objects.
"""

from __future__ import annotations

from typing import Any

from reconciler_sandbox import errors
from reconciler_sandbox.discovery import ResourceType

Obj = dict[str, Any]
GROUP = "apiextensions.k8s.io"


def is_crd(rt: ResourceType) -> bool:
    return rt.group == GROUP and rt.resource == "customresourcedefinitions"


def check(crd: Obj, structural: bool = True) -> None:
    """The checks a real server makes that the schema alone cannot express."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"].get("name", "")
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    causes = []
    if name != expected:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                "field": "metadata.name",
            }
        )
    storage = [v for v in spec.get("versions") or [] if v.get("storage")]
    if len(storage) != 1:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: must have exactly one version marked as storage version",
                "field": "spec.versions",
            }
        )
    if structural:
        causes += _structural(spec.get("versions") or [])
    if causes:
        raise errors.invalid("CustomResourceDefinition", GROUP, name, causes)


def structural_causes(crd: Obj) -> list[dict[str, str]]:
    return _structural((crd.get("spec") or {}).get("versions") or [])


def _structural(versions: list[Obj]) -> list[dict[str, str]]:
    """The "type must not be empty" rule of structural schemas, worded like kube-apiserver.

    The server names one shared schema ``spec.validation.openAPIV3Schema`` (its internal form
    keeps a schema common to every version there), a per-version one by its version's index.
    """
    schemas = [(v.get("schema") or {}).get("openAPIV3Schema") for v in versions]
    if not schemas or schemas[0] is None:
        return []
    if all(schema == schemas[0] for schema in schemas):
        return _typed(schemas[0], "spec.validation.openAPIV3Schema")
    causes = []
    for index, schema in enumerate(schemas):
        if schema is not None:
            causes += _typed(schema, f"spec.versions[{index}].schema.openAPIV3Schema")
    return causes


def _typed(schema: Obj, path: str) -> list[dict[str, str]]:
    causes = []
    children = [
        (f"{path}.properties[{name}]", child, "object fields")
        for name, child in sorted((schema.get("properties") or {}).items())
    ]
    if isinstance(schema.get("items"), dict):
        children.append((f"{path}.items", schema["items"], "array items"))
    for child_path, child, what in children:
        free = child.get("x-kubernetes-int-or-string") or child.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        if not child.get("type") and not free:
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "message": f"Required value: must not be empty for specified {what}",
                    "field": f"{child_path}.type",
                }
            )
        causes += _typed(child, child_path)
    return causes


def served_types(crd: Obj) -> list[ResourceType]:
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                resource=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                subresources=("status",) if "status" in subresources else (),
                categories=tuple(names.get("categories") or ()),
                custom=True,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return types


def status(crd: Obj, previous: Obj | None, now: str) -> Obj:
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    old = {c["type"]: c for c in ((previous or {}).get("conditions") or [])}

    def condition(kind: str, reason: str, message: str) -> Obj:
        since = old.get(kind, {}).get("lastTransitionTime", now)
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    storage = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    stored = list((previous or {}).get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    return {
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "storedVersions": stored,
    }
