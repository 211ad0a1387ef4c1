"""One sandbox for the leader-election tests; each test campaigns for a Lease of its own."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from reconciler.cluster.client import KubeClient
from reconciler.cluster.lease import LeaderElector

testing = pytest.importorskip(
    "reconciler_sandbox.testing",
    reason="reconciler_sandbox.testing (the API sandbox serving Leases) is not available",
)

sandbox = testing.sandbox_fixture(scope="package", deployment_delay=0.05)

NAMESPACE = "default"
# Short timings keep each scenario to a second or two; their ratios are client-go's.
TIMINGS = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.15}
_names = itertools.count()


class PartitionableClient(KubeClient):
    """A client whose requests hang while partitioned, as behind a cut network link."""

    def __init__(self, api_client) -> None:
        super().__init__(api_client)
        self.link_up = threading.Event()
        self.link_up.set()

    def request(self, *args, **kwargs):
        self.link_up.wait()
        return super().request(*args, **kwargs)


class Timeline:
    """Start and end of every replica's claim, on one clock, to prove claims never overlap."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.events: list[tuple[float, str, str]] = []

    def now(self) -> float:
        return self._clock()

    def record(self, identity: str, what: str, at: float | None = None) -> None:
        with self._lock:
            self.events.append((self._clock() if at is None else at, identity, what))

    def first(self, identity: str, what: str) -> float | None:
        with self._lock:
            return next((t for t, who, w in self.events if (who, w) == (identity, what)), None)

    def assert_no_overlap(self) -> None:
        claims: dict[str, list[float]] = {}
        intervals: list[tuple[float, float, str]] = []
        with self._lock:
            events = sorted(self.events)
        for at, who, what in events:
            if what == "start":
                claims[who] = [at]
            elif what == "end" and who in claims:
                intervals.append((claims.pop(who)[0], at, who))
        intervals += [(start[0], float("inf"), who) for who, start in claims.items()]
        intervals.sort()
        for (_, end, who), (start, _, other) in itertools.pairwise(intervals):
            assert end < start, f"{who} still held the lease when {other} took it: {events}"


@pytest.fixture
def lease_name() -> str:
    return f"lease-{next(_names)}"


@pytest.fixture
def timeline() -> Timeline:
    import time

    return Timeline(time.monotonic)


@pytest.fixture
def make_elector(sandbox, lease_name: str, timeline: Timeline):
    """Electors for this test's Lease, each with its own connection, stopped at teardown."""
    made: list[LeaderElector] = []

    def make(identity: str, client: KubeClient | None = None, **timings: float) -> LeaderElector:
        elector: LeaderElector

        def started() -> None:
            timeline.record(identity, "start")

        def lost() -> None:
            # The claim ended at the deadline, which is no later than the moment it was noticed.
            timeline.record(identity, "end", min(elector.expires_at, timeline.now()))

        elector = LeaderElector(
            client or KubeClient(sandbox.api_client()),
            NAMESPACE,
            lease_name,
            identity,
            on_started_leading=started,
            on_lost=lost,
            **{**TIMINGS, **timings},
        )
        made.append(elector)
        return elector

    yield make
    for elector in made:
        elector.stop(release=False)
