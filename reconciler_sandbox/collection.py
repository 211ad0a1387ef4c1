"""List and watch.

List: label and field selectors, ``limit``/``continue`` paging in (namespace, name) order with an
opaque continue token, ``metadata.resourceVersion`` of the list. Watch: newline-delimited JSON
events from a resourceVersion (events after it), initial ``ADDED`` events of the current state
when the resourceVersion is absent or ``0`` (or with ``sendInitialEvents=true``, followed by a
bookmark annotated ``k8s.io/initial-events-end``), ``BOOKMARK`` events every
``bookmark_interval`` seconds when asked for, ``timeoutSeconds`` ending the stream cleanly, and an
``ERROR`` event with a 410 Expired Status when the resourceVersion is older than the event window.
A selector change turns MODIFIED into ADDED or DELETED as on a real server.

Differences: list items carry ``apiVersion`` and ``kind`` (a real server omits them for built-in
kinds); paging is over the current state rather than a snapshot at the first page's version.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from typing import Any

from reconciler_sandbox import errors, eventsview, selectors
from reconciler_sandbox.discovery import ResourceType
from reconciler_sandbox.rest import Api
from reconciler_sandbox.store import Expired, Stored, dumps

Obj = dict[str, Any]
Matcher = selectors.Matcher


def matcher(rt: ResourceType, namespace: str | None, params: dict[str, str]) -> Matcher:
    tests = selectors.combine(
        selectors.parse_labels(params.get("labelSelector")),
        selectors.parse_fields(
            params.get("fieldSelector"), rt.kind, eventsview.selectable_fields(rt)
        ),
    )
    if namespace and rt.namespaced:
        if tests is None:
            return lambda obj: obj["metadata"].get("namespace") == namespace
        return lambda obj: obj["metadata"].get("namespace") == namespace and tests(obj)
    return tests or (lambda obj: True)


def list_body(api: Api, rt: ResourceType, namespace: str | None, params: dict[str, str]) -> bytes:
    match = matcher(rt, namespace, params)
    with api.store.lock:
        rv = api.store.rv
        items = [
            s for s in api.store.list(rt.key, namespace if rt.namespaced else None) if match(s.obj)
        ]
    start = None
    token = params.get("continue")
    if token:
        rv, start = _decode(token)
        items = [s for s in items if _ident(s.obj) > start]
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    limit = _int(params.get("limit"), "limit")
    if limit and len(items) > limit:
        remaining = len(items) - limit
        items = items[:limit]
        meta["continue"] = _encode(rv, _ident(items[-1].obj))
        meta["remainingItemCount"] = remaining
    head = {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta}
    raws = b",".join(api.view(rt, s).raw for s in items)
    return dumps(head)[:-1] + b',"items":[' + raws + b"]}"


def watch_events(
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    params: dict[str, str],
    bookmark_interval: float,
    alive: Any = None,
) -> Iterator[bytes]:
    """Event lines until the timeout, the client leaving (``alive()`` false) or shutdown.

    Parameters are checked here, before the stream (and its 200 status line) starts.
    """
    match = matcher(rt, namespace, params)
    timeout = _int(params.get("timeoutSeconds"), "timeoutSeconds")
    requested = params.get("resourceVersion") or "0"
    if not requested.isdigit():
        raise errors.bad_request(f"invalid resource version {requested!r}")
    return _events(
        api, rt, namespace, params, match, timeout, int(requested), bookmark_interval, alive
    )


def _events(
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    params: dict[str, str],
    match: Matcher,
    timeout: int,
    last: int,
    bookmark_interval: float,
    alive: Any,
) -> Iterator[bytes]:
    store = api.store
    deadline = time.monotonic() + timeout if timeout else None
    bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
    initial = params.get("sendInitialEvents") in ("true", "1")
    if last == 0 or initial:
        with store.lock:
            last = store.rv
            current = [
                s for s in store.list(rt.key, namespace if rt.namespaced else None) if match(s.obj)
            ]
        for stored in current:
            yield _line("ADDED", api.view(rt, stored).raw)
        if initial:
            yield _bookmark(rt, last, initial_end=True)
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        try:
            with store.lock:
                events = store.events_since(rt.key, last)
                seen = store.rv
                if not events and not store.closed:
                    wait = 1.0 if not bookmarks else max(0.0, next_bookmark - time.monotonic())
                    if deadline is not None:
                        wait = min(wait, max(0.0, deadline - time.monotonic()))
                    store.changed.wait(min(wait, 1.0))
                    events = store.events_since(rt.key, last)
                    seen = store.rv
        except Expired as exc:
            status = errors.expired(str(last), exc.oldest).body()
            yield _line("ERROR", dumps(status))
            return
        for event in events:
            line = _translate(rt, event, match, api)
            if line is not None:
                yield line
            last = event.rv
        if store.closed or (alive is not None and not alive()):
            return
        current_time = time.monotonic()
        if bookmarks and current_time >= next_bookmark:
            last = max(last, seen)
            yield _bookmark(rt, last)
            next_bookmark = current_time + bookmark_interval
        if deadline is not None and current_time >= deadline:
            return


def _translate(rt: ResourceType, event: Any, match: Matcher, api: Api) -> bytes | None:
    now_matches = match(event.obj)
    if event.type == "MODIFIED":
        before = event.old is not None and match(event.old)
        kind = (
            "MODIFIED"
            if before and now_matches
            else "ADDED"
            if now_matches
            else "DELETED"
            if before
            else None
        )
    else:
        kind = event.type if now_matches else None
    if kind is None:
        return None
    return _line(kind, api.view(rt, Stored(event.obj, event.raw)).raw)


def _line(kind: str, raw: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line(
        "BOOKMARK", dumps({"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})
    )


def _ident(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _encode(rv: int, start: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": list(start)}).encode()).decode()


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (binascii.Error, ValueError, KeyError, IndexError, TypeError) as exc:
        raise errors.bad_request("continue key is not valid") from exc


def _int(text: str | None, name: str) -> int:
    if not text:
        return 0
    try:
        return int(text)
    except ValueError as exc:
        raise errors.bad_request(f"{name} must be an integer") from exc
