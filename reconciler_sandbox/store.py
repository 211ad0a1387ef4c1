"""Objects by resource, resourceVersions and the watch event log.

One global counter gives every write a new resourceVersion (rendered as an opaque decimal
string, as etcd revisions are). Each resource keeps a bounded window of recent events so a watch
can resume from any resourceVersion inside it; older ones get 410 Expired, like a compacted etcd.

Stored objects are never mutated after ``put``: readers share them (and their serialised JSON)
without copying, and writers always build a new dict. All writes happen under ``lock``; the
``changed`` condition wakes watchers, and ``subscribe`` feeds controllers every event in order.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, resource)

DEFAULT_WINDOW = 2000


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Stored:
    obj: Obj
    raw: bytes


@dataclass(frozen=True, slots=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    key: Key
    obj: Obj
    raw: bytes
    old: Obj | None


class Expired(Exception):
    def __init__(self, oldest: int) -> None:
        super().__init__(oldest)
        self.oldest = oldest


class Store:
    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.closed = False
        self._window = window
        self._rv = 1
        self._objects: dict[Key, dict[tuple[str, str], Stored]] = {}
        self._logs: dict[Key, deque[Event]] = {}
        self._compacted: dict[Key, int] = {}
        self._subscribers: list[queue.SimpleQueue[Event | None]] = []

    @property
    def rv(self) -> int:
        return self._rv

    # Reads: lock-free, they only ever see whole Stored records.

    def get(self, key: Key, namespace: str, name: str) -> Stored | None:
        return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: Key, namespace: str | None = None) -> list[Stored]:
        with self.lock:
            items = self._objects.get(key, {})
            if namespace:
                selected = [(k, v) for k, v in items.items() if k[0] == namespace]
            else:
                selected = list(items.items())
        selected.sort(key=lambda kv: kv[0])
        return [v for _, v in selected]

    # Writes: callers hold ``lock`` across read-modify-write.

    def put(self, key: Key, obj: Obj) -> Stored:
        """Store ``obj`` (now owned by the store) under a new resourceVersion."""
        with self.lock:
            meta = obj["metadata"]
            ident = (meta.get("namespace", ""), meta["name"])
            bucket = self._objects.setdefault(key, {})
            previous = bucket.get(ident)
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            stored = Stored(obj, dumps(obj))
            bucket[ident] = stored
            self._record(
                key, "MODIFIED" if previous else "ADDED", stored, previous.obj if previous else None
            )
            return stored

    def remove(self, key: Key, obj: Obj) -> Stored:
        """Delete the object; ``obj`` is its final state, given a new resourceVersion."""
        with self.lock:
            meta = obj["metadata"]
            previous = self._objects.get(key, {}).pop((meta.get("namespace", ""), meta["name"]))
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            stored = Stored(obj, dumps(obj))
            self._record(key, "DELETED", stored, previous.obj)
            return stored

    def _record(self, key: Key, kind: str, stored: Stored, old: Obj | None) -> None:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque(maxlen=self._window)
        if len(log) == self._window:
            self._compacted[key] = log[0].rv
        event = Event(self._rv, kind, key, stored.obj, stored.raw, old)
        log.append(event)
        for subscriber in self._subscribers:
            subscriber.put(event)
        self.changed.notify_all()

    # Watching.

    def events_since(self, key: Key, rv: int) -> list[Event]:
        """Events of ``key`` after ``rv``, oldest first; raises Expired if some were dropped."""
        with self.lock:
            compacted = self._compacted.get(key, 0)
            if rv < compacted:
                raise Expired(compacted + 1)
            log = self._logs.get(key)
            if not log or log[-1].rv <= rv:
                return []
            newer: list[Event] = []
            for event in reversed(log):
                if event.rv <= rv:
                    break
                newer.append(event)
            newer.reverse()
            return newer

    def compact(self) -> None:
        """Forget every event so far, as etcd compaction does: older watches get 410."""
        with self.lock:
            for key in self._logs:
                self._logs[key].clear()
            for key in set(self._logs) | set(self._objects):
                self._compacted[key] = self._rv

    def subscribe(self) -> queue.SimpleQueue[Event | None]:
        """Every future event, in order; ``None`` is delivered when the store closes."""
        feed: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        with self.lock:
            self._subscribers.append(feed)
        return feed

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for subscriber in self._subscribers:
                subscriber.put(None)
            self.changed.notify_all()
