"""A watch-backed cache of the objects reconciler manages.

Each watched kind is listed once (pages of 500) and then followed by a watch from the list's
resourceVersion; a 410 Expired relists. Plans read from here, so a reconcile with nothing to do
makes no API request at all. Our own writes are recorded with ``record`` from the server's answer,
which makes the watch event they cause a no-op instead of another reconcile.

Kinds come and go with their CRDs: ``sync_kinds`` follows a kind discovery has found since (a CRD
installed after start) and drops one it no longer serves; a 404 on a watch or list asks discovery
again at once. In a namespaced install each kind is listed and watched in each allowed namespace,
never cluster-wide.

Objects are held as compact JSON, compressed, and decoded on each read. As a tree of dicts an
object costs about 2.5 times its JSON, and its JSON about twice the compressed bytes: at 5,000
specs the JSON alone was 26 MiB, the largest thing the process held. A read costs tens of
microseconds, plans read only the objects of the specs they visit, and callers get fresh dicts
they may change.
"""

from __future__ import annotations

import contextlib
import json
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from reconciler import backoff
from reconciler.cluster.client import KubeClient, error_from_status
from reconciler.cluster.discovery import Discovery, Resource
from reconciler.errors import ApiError, NotServed
from reconciler.inventory import ObjectRef, owner_spec
from reconciler.specs.loaded import SpecKey

log = structlog.get_logger(__name__)

# zlib's fastest level: one object's JSON already halves, and the default level costs more CPU
# for a few percent more.
COMPRESSION = 1


@dataclass(frozen=True, slots=True)
class _Entry:
    version: str | None  # metadata.resourceVersion
    owner: SpecKey | None
    body: bytes  # the object as compact JSON, compressed

    def decoded(self) -> dict[str, Any]:
        return json.loads(zlib.decompress(self.body))


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]

    @property
    def owner(self) -> SpecKey | None:
        return owner_spec(self.object)


class WatchCache:
    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        kinds: Iterable[tuple[str, str]],
        selector: str,
        on_event: Callable[[WatchEvent], None] = lambda event: None,
        watch_timeout: int = 300,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        namespaces: Iterable[str] | None = None,
        on_kinds: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._kinds = tuple(kinds)
        self._selector = selector
        self._on_event = on_event
        self._on_kinds = on_kinds  # a kind began or ceased to be followed
        self._watch_timeout = watch_timeout
        self._keep = keep  # the fields worth holding; None keeps whole objects
        # A namespaced install lists and watches each allowed namespace; None: cluster-wide.
        self._namespaces = None if namespaces is None else tuple(sorted(set(namespaces)))
        self._lock = threading.Lock()
        self._entries: dict[ObjectRef, _Entry] = {}
        self._by_owner: dict[SpecKey, set[ObjectRef]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._followers: dict[tuple[str, str], _Follower] = {}

    # ------------------------------------------------------------------ reading

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(ref)
        return None if entry is None else entry.decoded()

    def owned_by(self, owner: SpecKey) -> list[dict[str, Any]]:
        return [entry.decoded() for entry in self._owned_entries(owner)]

    def versions(self, owner: SpecKey) -> list[str | None]:
        """The resourceVersions of ``owner``'s objects, in ``owned_by`` order, decoding none."""
        return [entry.version for entry in self._owned_entries(owner)]

    def _owned_entries(self, owner: SpecKey) -> list[_Entry]:
        with self._lock:
            refs = self._by_owner.get(owner, ())
            return [self._entries[ref] for ref in sorted(refs)]

    def owners(self) -> set[SpecKey]:
        with self._lock:
            return set(self._by_owner)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def served_kinds(self) -> list[tuple[str, str]]:
        """The kinds being followed now."""
        with self._lock:
            return list(self._followers)

    # ------------------------------------------------------------------ writing

    def record(self, obj: dict[str, Any]) -> None:
        """Store the server's answer to our own write, unless the watch already delivered a
        later version: a Job that finished while its create was answered would otherwise stay
        unfinished here, since no later event comes to correct it."""
        with self._lock:
            old = self._entries.get(ObjectRef.from_object(obj))
        if old is not None and _later(old.version, _rv(obj)):
            return
        self._store(obj)

    def forget(self, ref: ObjectRef) -> None:
        with self._lock:
            self._remove_locked(ref)

    def _store(self, obj: dict[str, Any]) -> bool:
        """Store ``obj``; False when the cache already held this exact resourceVersion."""
        # Nothing reads managedFields (plan compares only fields the manifest sets), and they are
        # often the largest part of an object: dropping them keeps the cache a fraction the size.
        obj.get("metadata", {}).pop("managedFields", None)
        if self._keep is not None:
            obj = self._keep(obj)
        ref = ObjectRef.from_object(obj)
        version = _rv(obj)
        with self._lock:
            old = self._entries.get(ref)
            if old is not None and old.version == version:
                return False
        body = zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), COMPRESSION)
        entry = _Entry(version, owner_spec(obj), body)
        with self._lock:
            old = self._entries.get(ref)
            if old is not None:
                self._unindex_locked(ref, old)
            self._entries[ref] = entry
            if entry.owner is not None:
                self._by_owner.setdefault(entry.owner, set()).add(ref)
            return True

    def _remove_locked(self, ref: ObjectRef) -> _Entry | None:
        old = self._entries.pop(ref, None)
        if old is not None:
            self._unindex_locked(ref, old)
        return old

    def _unindex_locked(self, ref: ObjectRef, entry: _Entry) -> None:
        owned = self._by_owner.get(entry.owner) if entry.owner is not None else None
        if owned is not None:
            owned.discard(ref)
            if not owned:
                del self._by_owner[entry.owner]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """List every served kind (so the first plan sees the cluster), then watch each.

        Called again after a failure (an API server not reachable yet), it goes on with the
        kinds not followed yet.
        """
        for api_version, kind in self._kinds:
            try:
                self._discovery.resource(api_version, kind)
            except NotServed:
                log.info("kind_not_served", api_version=api_version, kind=kind)
        self.sync_kinds()

    def sync_kinds(self) -> None:
        """Follow the kinds discovery now says are served, drop those it says are gone.

        Makes no request of its own unless a kind became served (then it lists that kind).
        """
        for api_version, kind in self._kinds:
            resource = self._discovery.known(api_version, kind)
            with self._lock:
                followed = (api_version, kind) in self._followers
            if resource is not None and not followed:
                self._begin(resource)
            elif resource is None and followed:
                self._end((api_version, kind))

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for follower in self._followers.values():
                follower.stop.set()

    def _scopes(self, resource: Resource) -> tuple[str | None, ...]:
        if self._namespaces is None or not resource.namespaced:
            return (None,)
        return self._namespaces

    def _begin(self, resource: Resource) -> None:
        # Every scope is listed before any watch starts: a failed list leaves the kind unfollowed
        # (and retried by the next sync) instead of half followed.
        versions = [(scope, self._list(resource, scope)) for scope in self._scopes(resource)]
        follower = _Follower(resource, threading.Event())
        with self._lock:
            self._followers[(resource.api_version, resource.kind)] = follower
        if self._stop.is_set():
            follower.stop.set()
        log.info("kind_watched", api_version=resource.api_version, kind=resource.kind)
        self._on_kinds()
        for scope, version in versions:
            thread = threading.Thread(
                target=self._follow,
                args=(follower, scope, version),
                name=f"watch-{resource.plural}" + (f"-{scope}" if scope else ""),
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _end(self, key: tuple[str, str]) -> None:
        """Stop following a kind the cluster no longer serves and forget its objects.

        Their owners hear of it as deletions, so their specs are reconciled (and report the kind
        as not installed); nothing is deleted in the cluster because of it.
        """
        with self._lock:
            follower = self._followers.pop(key, None)
            if follower is None:
                return
            follower.stop.set()
            stale = [ref for ref in self._entries if (ref.api_version, ref.kind) == key]
            removed = [self._remove_locked(ref) for ref in stale]
        log.warning("kind_unwatched", api_version=key[0], kind=key[1], reason="no longer served")
        for old in removed:
            if old is not None:
                self._on_event(WatchEvent("DELETED", old.decoded()))
        self._on_kinds()

    def _list(self, resource: Resource, scope: str | None = None) -> str:
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"labelSelector": self._selector, "limit": 500}
        while True:
            page = self._client.request("GET", resource.collection_path(scope), query=query)
            for item in page.get("items", []):
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                break
            query = {**query, "continue": token}
        fresh = {ObjectRef.from_object(item): item for item in items}
        with self._lock:
            stale = [
                ref
                for ref in self._entries
                if (ref.api_version, ref.kind) == (resource.api_version, resource.kind)
                and (scope is None or ref.namespace == scope)
                and ref not in fresh
            ]
            removed = [self._remove_locked(ref) for ref in stale]
        for item in fresh.values():
            if self._store(item):
                self._on_event(WatchEvent("ADDED", item))
        for old in removed:
            if old is not None:
                self._on_event(WatchEvent("DELETED", old.decoded()))
        return str(page.get("metadata", {}).get("resourceVersion", ""))

    def _follow(self, follower: _Follower, scope: str | None, version: str) -> None:
        resource = follower.resource
        failures = 0
        while not follower.stop.is_set():
            try:
                version = self._watch_once(follower, scope, version)
                failures = 0
            except _Expired:
                log.info("watch_expired", kind=resource.kind)
                version = self._relist(follower, scope, version)
            except ApiError as exc:
                if exc.status == 404 and self._gone(follower):
                    return
                failures += 1
                wait = backoff.delay(failures, base=0.4, cap=30.0)
                log.warning("watch_failed", kind=resource.kind, reason=str(exc), retry_in=wait)
                if follower.stop.wait(wait):
                    return
                version = self._relist(follower, scope, version)

    def _gone(self, follower: _Follower) -> bool:
        """Whether a 404 meant the kind is no longer served; if so, stop following it."""
        resource = follower.resource
        try:
            served = self._discovery.recheck(resource.api_version, resource.kind)
        except ApiError as exc:
            log.warning("discovery_failed", kind=resource.kind, reason=str(exc))
            return False
        if served is not None:
            return False
        self._end((resource.api_version, resource.kind))
        return True

    def _relist(self, follower: _Follower, scope: str | None, version: str) -> str:
        try:
            return self._list(follower.resource, scope)
        except ApiError as exc:
            if exc.status == 404 and self._gone(follower):
                return version
            log.warning("relist_failed", kind=follower.resource.kind, reason=str(exc))
            return version

    def _watch_once(self, follower: _Follower, scope: str | None, version: str) -> str:
        resource = follower.resource
        query = {
            "watch": "true",
            "labelSelector": self._selector,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": self._watch_timeout,
        }
        for event in self._client.stream(
            resource.collection_path(scope), query, read_timeout=self._watch_timeout + 30
        ):
            if follower.stop.is_set():
                break
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Expired()
                raise error_from_status(
                    int(obj.get("code") or 500), obj, default_message="watch error"
                )
            new_version = obj.get("metadata", {}).get("resourceVersion")
            if new_version:
                version = str(new_version)
            if kind == "BOOKMARK":
                continue
            obj.setdefault("apiVersion", resource.api_version)
            obj.setdefault("kind", resource.kind)
            if kind == "DELETED":
                with self._lock:
                    old = self._remove_locked(ObjectRef.from_object(obj))
                if old is not None:
                    self._on_event(WatchEvent("DELETED", obj))
            elif self._store(obj):
                self._on_event(WatchEvent(str(kind), obj))
        return version

    def join(self, timeout: float = 1.0) -> None:
        for thread in self._threads:
            with contextlib.suppress(RuntimeError):
                thread.join(timeout)


@dataclass(frozen=True)
class _Follower:
    """One followed kind: a watch per scope (the cluster, or each allowed namespace)."""

    resource: Resource
    stop: threading.Event


class _Expired(Exception):
    pass


def _rv(obj: dict[str, Any]) -> str | None:
    return obj.get("metadata", {}).get("resourceVersion")


def _later(held: str | None, answered: str | None) -> bool:
    """True when ``held`` is a later resourceVersion than ``answered``. They are opaque by the
    API's contract; etcd-backed servers (and the sandbox) issue increasing integers, and
    anything else is treated as not later, so the answer is stored as before."""
    try:
        return int(held or "") > int(answered or "")
    except ValueError:
        return False
