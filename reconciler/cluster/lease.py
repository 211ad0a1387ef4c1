"""Leader election on a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it.

One replica holds the Lease and reconciles; the others are candidates that read the Lease every
``retry_period`` and take it over only when it is released or stops changing. Writes use
optimistic concurrency: every PUT carries the resourceVersion it read, so of two candidates
racing for the same version exactly one wins and the other gets 409 Conflict.

Timings (defaults are client-go's, 15 s / 10 s / 2 s):

``retry_period``
    How often the leader renews and candidates look (candidates add up to 20% jitter so they do
    not knock in step). Two requests a period per replica is nothing for an API server.
``renew_deadline``
    A leader that has not renewed for this long, counted from the *start* of its last successful
    renewal, stops leading at once and sets ``lost``. Failed renewals are retried every period
    until then, so a few dropped requests or an API server restart do not cost the leadership.
``lease_duration``
    A candidate takes over only when the Lease it sees has not changed for this long, counted on
    its *own* monotonic clock from the moment it first saw that version (never from the
    ``renewTime`` written in the Lease, so wall clocks need not agree, only clock rates).

Why this means one writer: the leader's last renewal started at ``t``; it stops by
``t + renew_deadline``. That renewal landed after ``t``, so no candidate can take over before
``t + lease_duration``. The difference (5 s by default) is the margin for requests the old leader
already had in flight. A process frozen for longer than ``renew_deadline`` (SIGSTOP, a long GC,
a suspended VM) cannot notice anything while frozen; ``holds()`` compares the clock against the
deadline directly, so code about to write learns the truth the moment it runs again, before the
elector thread does.

Every API call is bounded by the time left before the deadline: a request hanging on a
partitioned network cannot keep a leader leading past it. Leadership is not regained after it is
lost: the process is expected to exit and come back as a candidate (a restarted container), as
client-go's users do, so no half-stopped state survives. On graceful shutdown the leader releases
the Lease (empty holder, ``leaseDurationSeconds: 1``) and a candidate takes over at its next look
instead of waiting out ``lease_duration``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from reconciler.cluster.client import KubeClient
from reconciler.errors import ApiError, TransientApiError

log = structlog.get_logger(__name__)

API_VERSION = "coordination.k8s.io/v1"
JITTER = 1.2  # candidates wait retry_period * uniform(1, JITTER), as client-go does
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def micro_time(moment: datetime) -> str:
    """A Lease's acquireTime/renewTime are MicroTime: RFC 3339 with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Usurped(Exception):
    """The Lease names another holder: leadership ends now, not at the deadline."""


class LeaderElector:
    """Campaign for ``namespace/name`` as ``identity``; lead until stopped or the Lease is lost.

    ``start()`` campaigns in a background thread. ``leading`` is set once this replica holds the
    Lease; ``lost`` is set (and ``on_lost`` called, from the elector thread) when it stops
    holding it other than by ``stop()``; ``lost`` is never cleared. ``stop(release=True)`` ends
    the campaign and releases a Lease still held.
    """

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        on_started_leading: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        if not lease_duration > renew_deadline > JITTER * retry_period > 0:
            raise ValueError(
                "leader election needs lease_duration > renew_deadline > 1.2 * retry_period > 0"
            )
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self._wall = wall
        self._on_started_leading = on_started_leading
        self._on_lost = on_lost
        self.leading = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._release_on_stop = True
        self._thread: threading.Thread | None = None
        self._lease: dict[str, Any] | None = None  # the Lease as last read or written
        self._observed_version: str | None = None
        self._observed_at = 0.0  # our clock when the Lease's current version was first seen
        self._renewed_at = 0.0  # our clock when our last successful renewal started
        self.holder: str | None = None  # the holder named by the Lease as last seen

    # ------------------------------------------------------------------ public

    @property
    def collection(self) -> str:
        return f"/apis/{API_VERSION}/namespaces/{self.namespace}/leases"

    @property
    def expires_at(self) -> float:
        """On our clock, when this replica's claim ends unless renewed (``renew_deadline``)."""
        return self._renewed_at + self.renew_deadline

    def holds(self) -> bool:
        """True while this replica may write: leading, not lost, and inside the deadline.

        Reads the clock instead of trusting the elector thread to have noticed, so a process
        that was frozen past its deadline sees False the instant it resumes.
        """
        return self.leading.is_set() and not self.lost.is_set() and self._clock() < self.expires_at

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """End the campaign; a held Lease is released (``release``) by the elector thread."""
        self._release_on_stop = release
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.renew_deadline + 1)

    # ------------------------------------------------------------------ loop

    def _run(self) -> None:
        log.info(
            "leader_election_started", lease=f"{self.namespace}/{self.name}", identity=self.identity
        )
        if self._campaign():
            self._lead()

    def _campaign(self) -> bool:
        while not self._stop.is_set():
            started = self._clock()
            if self._try_acquire():
                self._renewed_at = started
                self.leading.set()
                log.info("leader_elected", lease=self.name, identity=self.identity)
                self._on_started_leading()
                return True
            self._stop.wait(self.retry_period * random.uniform(1.0, JITTER))
        return False

    def _lead(self) -> None:
        while not self._stop.wait(
            min(self.retry_period, max(0.0, self.expires_at - self._clock()))
        ):
            started = self._clock()
            remaining = self.expires_at - started
            if remaining <= 0:
                self._lose("not renewed within the renew deadline")
                return
            try:
                self._renew(remaining)
            except _Usurped:
                self._lose(f"the lease is held by {self.holder}")
                return
            except ApiError as exc:
                log.warning("lease_renew_failed", reason=str(exc), seconds_left=round(remaining, 2))
                continue
            self._renewed_at = started
        if self._release_on_stop and self.holds():
            self._release()
        self.leading.clear()

    def _lose(self, reason: str) -> None:
        self.lost.set()
        self.leading.clear()
        log.error("leadership_lost", lease=self.name, identity=self.identity, reason=reason)
        self._on_lost()

    # ------------------------------------------------------------------ requests

    def _bounded(self, call: Callable[[], T], timeout: float) -> T:
        """``call()`` or a TransientApiError after ``timeout`` seconds, whatever the socket does.

        The request runs in a daemon thread that is abandoned on timeout: a PUT that lands
        later carries a resourceVersion that has either moved on (409) or still names us.
        """
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as exc:  # re-raised in the caller's thread below
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=target, name="lease-request", daemon=True).start()
        if not done.wait(max(0.0, timeout)):
            raise TransientApiError(0, "Timeout", f"no answer within {timeout:.1f}s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _get(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._bounded(
                lambda: self.client.request("GET", f"{self.collection}/{self.name}"), timeout
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _observe(self, lease: dict[str, Any]) -> None:
        version = lease.get("metadata", {}).get("resourceVersion")
        if version != self._observed_version:
            self._observed_version = version
            self._observed_at = self._clock()
        self._lease = lease
        self.holder = (lease.get("spec") or {}).get("holderIdentity") or None

    def _try_acquire(self) -> bool:
        timeout = self.renew_deadline
        try:
            lease = self._get(timeout)
            if lease is None:
                self._observe(
                    self._bounded(
                        lambda: self.client.request(
                            "POST", self.collection, body=self._body(None, acquire=True)
                        ),
                        timeout,
                    )
                )
                return True
            self._observe(lease)
            spec = lease.get("spec") or {}
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            held = self.holder not in (None, self.identity)
            if held and self._clock() - self._observed_at < duration:
                return False
            written = self._put(self._body(lease, acquire=self.holder != self.identity), timeout)
        except ApiError as exc:
            if exc.status != 409:  # 409: another candidate won this round
                log.info("lease_acquire_failed", reason=str(exc))
            return False
        self._observe(written)
        return True

    def _put(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._bounded(
            lambda: self.client.request("PUT", f"{self.collection}/{self.name}", body=body),
            timeout,
        )

    def _renew(self, timeout: float) -> None:
        """PUT with the version we wrote last: while we lead nobody else should write it."""
        deadline = self._clock() + timeout
        for _ in range(
            2
        ):  # a 409 from someone editing the Lease (kubectl annotate) is retried once
            assert self._lease is not None
            try:
                written = self._put(
                    self._body(self._lease, acquire=False), deadline - self._clock()
                )
            except ApiError as exc:
                if exc.status != 409:
                    raise
                current = self._get(deadline - self._clock())
                if current is None:
                    raise _Usurped() from exc
                self._observe(current)
                if self.holder != self.identity:
                    raise _Usurped() from exc
                continue
            self._observe(written)
            return
        raise TransientApiError(409, "Conflict", "the lease kept changing under the renewal")

    def _release(self) -> None:
        assert self._lease is not None
        body = self._body(self._lease, acquire=False)
        body["spec"].update(holderIdentity="", leaseDurationSeconds=1)
        try:
            self._put(body, max(0.0, self.expires_at - self._clock()))
        except ApiError as exc:
            log.warning("lease_release_failed", reason=str(exc))
            return
        log.info("leadership_released", lease=self.name, identity=self.identity)

    def _body(self, lease: dict[str, Any] | None, *, acquire: bool) -> dict[str, Any]:
        stamp = micro_time(self._wall())
        old = dict((lease or {}).get("spec") or {})
        spec = {
            **old,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "renewTime": stamp,
        }
        if acquire:
            spec["acquireTime"] = stamp
            # client-go counts every change of holder, including taking over a released Lease.
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + (1 if lease else 0)
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
            for key in ("labels", "annotations"):
                if key in lease["metadata"]:
                    metadata[key] = lease["metadata"][key]
        return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}
