"""Per-kind write rules of the real API server that go beyond schema and defaults.

- Job: on create the selector and controller labels derived from the uid
  (``defaults.default_job_identity``); ``spec.template``, ``spec.selector`` and
  ``spec.completions`` are immutable afterwards;
- Service: a clusterIP is allocated on create; an update that omits it keeps the allocated one
  and one that changes it is rejected as immutable.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler_sandbox import errors
from reconciler_sandbox.defaults import assign_cluster_ip, default_job_identity
from reconciler_sandbox.discovery import ResourceType

if TYPE_CHECKING:
    from reconciler_sandbox.rest import Api

Obj = dict[str, Any]
_JOB_IMMUTABLE = ("template", "selector", "completions")


def on_write(api: Api, rt: ResourceType, old: Obj | None, new: Obj) -> None:
    """Apply the rules to ``new`` (owned by the caller) in place; raise 422 when one is broken."""
    causes: list[dict[str, str]] = []
    kind = (rt.api_version, rt.kind)
    if kind == ("batch/v1", "Job"):
        if old is None:
            new.update(default_job_identity(new, new["metadata"]["uid"]))
        else:
            causes += _immutable(
                old.get("spec") or {}, new.get("spec") or {}, "spec", _JOB_IMMUTABLE
            )
    elif kind == ("v1", "Service"):
        causes += _service(api, rt, old, new)
    if causes:
        raise errors.invalid(rt.kind, rt.group, new["metadata"].get("name", ""), causes)


def _immutable(old: Obj, new: Obj, prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    return [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {_render(new.get(name))}: field is immutable",
            "field": f"{prefix}.{name}",
        }
        for name in fields
        if old.get(name) != new.get(name)
    ]


def _render(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _service(api: Api, rt: ResourceType, old: Obj | None, new: Obj) -> list[dict[str, str]]:
    spec = new.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return []
    if old is None:
        used = {s.obj.get("spec", {}).get("clusterIP", "") for s in api.store.list(rt.key)}
        new["spec"] = assign_cluster_ip(new, used)["spec"]
        return []
    old_spec = old.get("spec") or {}
    if not spec.get("clusterIP"):
        for name in ("clusterIP", "clusterIPs"):
            if name in old_spec:
                spec[name] = old_spec[name]
        return []
    if old_spec.get("clusterIP") and spec["clusterIP"] != old_spec["clusterIP"]:
        return _immutable(old_spec, spec, "spec", ("clusterIP",))
    return []
