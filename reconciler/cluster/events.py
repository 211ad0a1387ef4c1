"""Posts Kubernetes Events (events.k8s.io/v1) for what the reconciler did, off the worker's thread.

As client-go's EventRecorder: a repeat of an Event (same object, type, action and reason) within
``window`` seconds extends that Event's series (``series.count``, one PATCH, coalesced while one
is queued) instead of creating another; a token bucket caps requests per second; a bounded queue
drops what a slow or unreachable API server cannot take. Posting never fails a reconcile: an
error is counted and logged, once per run of failures.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from reconciler.cluster.client import MERGE_PATCH, KubeClient
from reconciler.errors import ApiError
from reconciler.events import Occurrence, Report, occurrences
from reconciler.metrics import Metrics

log = structlog.get_logger(__name__)

CONTROLLER = "reconciler"  # reportingController of every Event
_NAME_ROOM = 253 - 17  # an Event's name is "<object>.<nanoseconds in hex>"


@dataclass
class _Series:
    occurrence: Occurrence
    first: float
    last: float
    count: int = 1
    name: str | None = None  # the Event's name once posted
    queued: bool = False


class _Bucket:
    """At most ``rate`` takes per second after a burst of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.last = float(burst), time.monotonic()

    def take(self, abort: threading.Event) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            if abort.wait((1 - self.tokens) / self.rate):
                return False
            self.tokens, self.last = 1.0, time.monotonic()
        self.tokens -= 1
        return True


class EventRecorder:
    """``observe`` a report (from the worker), ``start`` the sender, ``stop`` to flush."""

    def __init__(
        self,
        client: KubeClient,
        instance: str,
        metrics: Metrics,
        *,
        qps: float = 5.0,
        burst: int = 25,
        window: float = 360.0,
        queue_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._instance = instance
        self._metrics = metrics
        self._bucket = _Bucket(qps, burst)
        self._window = window
        self._clock = clock
        self._queue: queue.Queue[tuple[str, ...]] = queue.Queue(queue_size)
        self._series: dict[tuple[str, ...], _Series] = {}
        self._swept = clock()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._failing = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> bool:
        """Something recorded is not posted yet (or is being posted)."""
        return self._queue.unfinished_tasks > 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Post what is queued, for at most ``timeout`` seconds, then give up on the rest."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._abort.set()
            self._thread.join(1.0)

    def observe(self, report: Report) -> None:
        if report.empty:
            return
        try:
            for occurrence in occurrences(report):
                self.record(occurrence)
        except Exception:  # telling is best effort: it never fails the reconcile that reports
            log.exception("events_not_recorded")

    def record(self, occurrence: Occurrence) -> None:
        key = occurrence.key
        now = self._clock()
        with self._lock:
            self._expire(now)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(occurrence, now, now)
            else:
                series.count += 1
                series.last = now
            if series.queued:
                return  # the queued post or patch sends the count as it is then
            series.queued = True
        try:
            self._queue.put_nowait(key)
        except queue.Full:
            with self._lock:
                series.queued = False
            self._metrics.events.labels("dropped").inc()

    def _expire(self, now: float) -> None:
        """Forget series not repeated within the window: a later repeat is a new Event."""
        if now - self._swept < min(self._window, 10.0):
            return
        self._swept = now
        old = [k for k, s in self._series.items() if not s.queued and now - s.last > self._window]
        for key in old:
            del self._series[key]

    def _run(self) -> None:
        while not self._abort.is_set():
            try:
                key = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            try:
                self._send(key)
            finally:
                self._queue.task_done()

    def _send(self, key: tuple[str, ...]) -> None:
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return
            series.queued = False
            name, count, first, last = series.name, series.count, series.first, series.last
        if not self._bucket.take(self._abort):
            return
        occurrence = series.occurrence
        namespace = occurrence.regarding.namespace or "default"
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
        try:
            if name is not None:
                patch = {"series": _series(count, last)}
                try:
                    self._client.request(
                        "PATCH", f"{path}/{name}", body=patch, content_type=MERGE_PATCH
                    )
                except ApiError as exc:
                    if exc.reason != "NotFound":
                        raise
                    name = None  # deleted meanwhile (an Event lives an hour): post it again
            if name is None:
                body = self._body(occurrence, namespace, first, count, last)
                self._client.request("POST", path, body=body)
                with self._lock:
                    series.name = body["metadata"]["name"]
        except ApiError as exc:
            self._metrics.events.labels("failed").inc()
            if not self._failing:
                log.warning("event_post_failed", object=str(occurrence.regarding), reason=str(exc))
            self._failing = True
            return
        self._failing = False
        self._metrics.events.labels("posted").inc()

    def _body(
        self, occurrence: Occurrence, namespace: str, first: float, count: int, last: float
    ) -> dict[str, Any]:
        ref = occurrence.regarding
        regarding = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            regarding["namespace"] = ref.namespace
        if occurrence.uid:
            regarding["uid"] = occurrence.uid
        body: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": f"{ref.name[:_NAME_ROOM]}.{time.time_ns():x}",
                "namespace": namespace,
            },
            "eventTime": _micro(first),
            "reportingController": CONTROLLER,
            "reportingInstance": self._instance,
            "type": occurrence.type,
            "action": occurrence.action,
            "reason": occurrence.reason,
            "note": occurrence.note,
            "regarding": regarding,
        }
        if count > 1:
            body["series"] = _series(count, last)
        return body


def _series(count: int, last: float) -> dict[str, Any]:
    return {"count": count, "lastObservedTime": _micro(last)}


def _micro(seconds: float) -> str:
    """MicroTime, as events.k8s.io wants it: RFC 3339 with microseconds, in UTC."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
