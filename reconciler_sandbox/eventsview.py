"""Core v1 Events as a view of events.k8s.io/v1 Events: one set of objects, two versions.

kube-apiserver keeps one copy of each Event and converts it to the version of each request
(``pkg/apis/events/v1`` conversion), so an Event posted through ``events.k8s.io/v1`` is listed by
``kubectl events``, which reads ``/api/v1/.../events``. The sandbox does the same with the
events.k8s.io/v1 form as its stored form: the reconciler's own writes need no conversion, and
core v1 requests are converted on the way in (``to_storage``) and out (``to_core``).

Field selectors are evaluated on the stored form, under the labels each version accepts (core
v1: ``involvedObject.*``, ``reason``, ``type``, ``source``, ``reportingComponent``;
events.k8s.io/v1: ``regarding.*``, ``reportingController`` and the same others), as the real
field label conversion maps both onto one set of selectable fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler_sandbox.discovery import ResourceType

Obj = dict[str, Any]
CORE = "v1"
EVENTS = "events.k8s.io/v1"
KEY = ("events.k8s.io", "events")  # where both versions' objects are stored

# events.k8s.io/v1 field -> core v1 field; action, reason, type, eventTime, series and related
# have the same name in both.
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_EVENTS = {core: events for events, core in _RENAMED.items()}
# What Go's JSON encoding of a core v1 Event always writes, set or not (no omitempty, or a struct).
_CORE_ZERO: Obj = {
    "involvedObject": {},
    "source": {},
    "firstTimestamp": None,
    "lastTimestamp": None,
    "eventTime": None,
    "reportingComponent": "",
    "reportingInstance": "",
}
_UNSET = (None, "", {}, 0)


def is_core_view(rt: ResourceType) -> bool:
    return rt.key == KEY and rt.api_version == CORE


def to_core(obj: Obj) -> Obj:
    """The stored (events.k8s.io/v1) Event as core v1 shows it."""
    viewed = {**_CORE_ZERO}
    for name, value in obj.items():
        viewed[_RENAMED.get(name, name)] = value
    viewed["apiVersion"] = CORE
    return viewed


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """``obj``, written at ``rt``'s version, in the form it is stored in."""
    if not is_core_view(rt):
        return obj
    stored = {
        _TO_EVENTS.get(name, name): value
        for name, value in obj.items()
        if not (name in _CORE_ZERO or name in _TO_EVENTS) or value not in _UNSET
    }
    stored["apiVersion"] = EVENTS
    return stored


def _regarding(field: str) -> Callable[[Obj], str]:
    return lambda obj: str((obj.get("regarding") or {}).get(field) or "")


def _top(field: str) -> Callable[[Obj], str]:
    return lambda obj: str(obj.get(field) or "")


def _source(obj: Obj) -> str:
    # As the real server: the legacy source component, else the reporting controller.
    component = (obj.get("deprecatedSource") or {}).get("component")
    return str(component or obj.get("reportingController") or "")


_REFERENCE = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_SHARED: dict[str, Callable[[Obj], str]] = {
    "reason": _top("reason"),
    "type": _top("type"),
    "source": _source,
}
_SELECTABLE: dict[str, dict[str, Callable[[Obj], str]]] = {
    CORE: {
        **{f"involvedObject.{f}": _regarding(f) for f in _REFERENCE},
        "reportingComponent": _top("reportingController"),
        **_SHARED,
    },
    EVENTS: {
        **{f"regarding.{f}": _regarding(f) for f in _REFERENCE},
        "reportingController": _top("reportingController"),
        **_SHARED,
    },
}


def selectable_fields(rt: ResourceType) -> dict[str, Callable[[Obj], str]] | None:
    """Field selector labels beyond metadata.name/namespace, each read from the stored form."""
    return _SELECTABLE.get(rt.api_version) if rt.key == KEY else None
