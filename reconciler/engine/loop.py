"""The control loop: one inbox of triggers, one worker, one reconcile per batch of triggers.

The worker drains what queued while it was busy into one reconcile (``reconcile.Reconciler``),
retries a reconcile that raised with backoff, and can run until every spec has settled
(``run --once``). Everything it talks to is handed in (``build.build_engine`` assembles the real
parts); constructing an engine does no I/O.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable

import structlog

from reconciler import backoff
from reconciler.delivery.provider import MetricsProvider
from reconciler.delivery.runner import Delivery
from reconciler.desired import sources_of
from reconciler.events import Observer
from reconciler.metrics import Metrics
from reconciler.phase import Phase
from reconciler.source.verify import CommitVerifier
from reconciler.status.book import StatusBook
from reconciler.status.writer import StatusWriter

from .clock import Clock, SystemClock, rfc3339
from .inbox import Inbox
from .load import SourceState
from .options import EngineOptions, Trigger
from .ports import Cluster, Source
from .reconcile import Reconciler

log = structlog.get_logger(__name__)

UNSETTLED = frozenset({Phase.PROGRESSING, Phase.PENDING})
# Thousands of parsed specs, cache entries and statuses live as long as the process. Python's
# full collection walks every tracked object that is not frozen: at 5,000 specs it ran about
# once a second and took 100-400 ms, a quarter of the CPU while pods settle and most of a
# push's time to go live. Freezing what exists after the first reconcile, and again each
# minute, keeps those walks to the last minute's objects; the minute's collection before each
# freeze walks only those too. Frozen objects still go when their last reference does; only a
# frozen reference cycle that became garbage waits, for the hourly collection that unfreezes
# first (at 5,000 specs it walks the whole heap in about 0.75 s).
REFREEZE_EVERY = 60.0  # seconds
FULL_COLLECTION_EVERY = 3600.0  # seconds


class Engine:
    def __init__(
        self,
        source: Source,
        cluster: Cluster,
        status: StatusWriter,
        options: EngineOptions,
        *,
        inbox: Inbox | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        verifier: CommitVerifier | None = None,
        analysis_metrics: MetricsProvider | None = None,
    ) -> None:
        self.cluster = cluster
        self.status = status
        self.options = options
        self.metrics = metrics or Metrics()
        self.clock = clock or SystemClock()
        self.inbox = inbox or Inbox()
        self.queue = self.inbox.queue
        self.stopping = self.inbox.stopping
        self.ready = self.inbox.ready
        self.reconciles = 0
        # Heartbeat: when the reconcile running now began (monotonic), None between reconciles.
        # Liveness fails once it is older than the configured bound (a stuck worker).
        self.busy_since: float | None = None
        # Reconciles that raised in a row, and the last one's error type; cleared by a success.
        self.failures = 0
        self.last_error: str | None = None
        self._retry_at = 0.0  # monotonic time before which the worker does not reconcile again
        self._frozen_at: float | None = None  # monotonic time of the last gc.freeze
        self._unfrozen_at = 0.0  # monotonic time of the last collection of the whole heap
        self._busy = threading.Lock()
        # Replaced by the leader elector's check when replicas elect one writer.
        self.may_write: Callable[[], bool] = lambda: True
        # Told what each reconcile did (Kubernetes Events, notifications); set by the service.
        self.observers: list[Observer] = []
        # Replaced by the service: True while an observer still has something to send.
        self.telling: Callable[[], bool] = lambda: False
        self.book = StatusBook(status, self.metrics, lambda: self.may_write(), self.clock.monotonic)
        # Canary analyses: a check when one is due, a wake-up trigger for the next.
        self.delivery = Delivery(
            analysis_metrics,
            lambda: rfc3339(self.clock.now()),
            lambda owner: self.inbox.put(Trigger("analysis", owner)),
        )
        self.reconciler = Reconciler(
            source,
            cluster,
            self.book,
            status.branch,
            options,
            self.metrics,
            self.clock,
            verifier,
            lambda: self.may_write(),
            self.observers,
            self.delivery,
        )

    @property
    def state(self) -> SourceState:
        """The commit in force and what the source last said (for /readyz and ``--once``)."""
        return self.reconciler.loader.state

    def trigger(self, reason: str) -> None:
        self.inbox.put(Trigger(reason))

    def start(self) -> None:
        """Prime the caches and read the status branch: what the first reconcile starts from.

        Raises ApiError when the API server cannot be reached; called again, it goes on.
        """
        self.cluster.objects.start()
        self.cluster.pods.start()
        self.book.load()
        self.ready.set()

    def stop(self) -> None:
        self.stopping.set()
        self.delivery.stop()
        self.cluster.objects.stop()
        self.cluster.pods.stop()

    def run_forever(self) -> None:
        self.inbox.put(Trigger("start"))
        while not self.stopping.is_set():
            # After a failed reconcile, triggers wait in the queue until the backoff has run out.
            if self.stopping.wait(self._backoff_left()):
                break
            batch = self.inbox.take(timeout=self._quiet_for(0.5))
            if batch is None:
                self._write_owed()
                continue
            with self._busy:
                self.reconcile(batch)
                self._keep_long_lived_frozen()

    @property
    def idle(self) -> bool:
        """No reconcile running and none queued, and what the last one did told: what a caller
        waits for before it looks."""
        if not self._busy.acquire(blocking=False):
            return False
        try:
            return self.queue.empty() and not self.telling()
        finally:
            self._busy.release()

    def run_until_settled(self, timeout: float) -> bool:
        """Reconcile until no spec is progressing or waiting on progress; True when settled."""
        clock = self.clock
        deadline = clock.monotonic() + timeout
        self.reconcile([Trigger("start")])
        while not self.settled():
            if clock.monotonic() > deadline or self.stopping.is_set():
                return False
            if self.stopping.wait(min(self._backoff_left(), deadline - clock.monotonic())):
                return False
            left = max(0.01, deadline - clock.monotonic())
            batch = self.inbox.take(timeout=self._quiet_for(min(1.0, left)))
            if batch is None:
                self._write_owed()
            else:
                self.reconcile(batch)
        return True

    def _quiet_for(self, most: float) -> float:
        """How long to wait for a trigger: ``most``, or less when a status write is held back."""
        due = self.book.due_in()
        return most if due is None else min(most, max(0.01, due))

    def _write_owed(self) -> None:
        """Write the status commit pacing held back, when no trigger came to carry it; what it
        meets (a full disk) is handled as a failed reconcile's would be."""
        with self._busy:
            if not self.may_write():
                return
            try:
                self.book.write_owed()
            except Exception as exc:
                self._failed(exc)

    def _keep_long_lived_frozen(self) -> None:
        """After the first reconcile, and again at most every ``REFREEZE_EVERY`` seconds: what
        the cache, the statuses and the specs hold now is left out of automatic collections."""
        now = self.clock.monotonic()
        if self._frozen_at is None:
            self._frozen_at = self._unfrozen_at = now
            if gc.get_freeze_count() == 0:  # a second engine in one process (tests): in place
                gc.collect()
                gc.freeze()
        elif now - self._frozen_at >= REFREEZE_EVERY:
            self._frozen_at = now
            if now - self._unfrozen_at >= FULL_COLLECTION_EVERY:
                self._unfrozen_at = now
                gc.unfreeze()  # frozen cycles that became garbage since are collected now
            gc.collect()
            gc.freeze()

    def _backoff_left(self) -> float:
        return max(0.0, self._retry_at - self.clock.monotonic())

    def settled(self) -> bool:
        state = self.state
        if state.head is None:
            # Nothing was ever loaded: settled only in that nothing more will happen on its own.
            return state.source_error is not None or state.config_error is not None
        statuses = self.book.statuses
        for key, status in statuses.items():
            if status.phase not in UNSETTLED:
                continue
            if key.kind != "ModelDeployment" or status.phase is Phase.PROGRESSING:
                return False
            # A serving spec waiting for a gate is settled once what it waits for has finished.
            for source in sources_of(state.specs.get(key)):
                found = statuses.get(source)
                if found is None or found.phase in UNSETTLED:
                    return False
        return not self.book.pending

    def reconcile(self, triggers: Iterable[Trigger]) -> None:
        """Reconcile once; an unexpected error is logged, counted and retried with backoff."""
        if not self.may_write():
            self.stopping.set()
            return
        self.busy_since = self.clock.monotonic()
        # A bug met by one reconcile must not end the process: it keeps serving, keeps what it
        # applied, and tries again with every spec dirty, so nothing the failed attempt had
        # dirtied is lost.
        try:
            self.reconciler.reconcile(list(triggers))
        except Exception as exc:
            self._failed(exc)
        else:
            self.reconciles += 1
            self.failures, self.last_error, self._retry_at = 0, None, 0.0
        finally:
            self.busy_since = None

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        wait = backoff.delay(self.failures, base=1.0, cap=self.options.max_retry_backoff)
        self._retry_at = self.clock.monotonic() + wait
        self.last_error = type(exc).__name__
        self.metrics.reconcile_errors.labels(type(exc).__name__).inc()
        log.exception(
            "reconcile_failed",
            error=type(exc).__name__,
            failures=self.failures,
            retry_in=round(wait, 2),
        )
        self.inbox.put(Trigger("retry"))
