"""Leader election against the sandbox: one leader, fast and safe hand-overs, no overlap."""

from __future__ import annotations

import time

import pytest

from reconciler.cluster.client import KubeClient
from reconciler.cluster.lease import LeaderElector
from tests.lease.conftest import NAMESPACE, TIMINGS, PartitionableClient
from tests.waiting import wait_for

LEASE = TIMINGS["lease_duration"]
RETRY = TIMINGS["retry_period"]
# Scheduling noise allowed on top of the protocol's own bounds.
SLACK = 0.5


def lease_of(sandbox, name: str) -> dict:
    return KubeClient(sandbox.api_client()).request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{name}"
    )


def first_leader(*electors: LeaderElector) -> LeaderElector:
    return wait_for(
        lambda: next((e for e in electors if e.leading.is_set()), None),
        timeout=5,
        what="a leader",
    )


def test_exactly_one_of_two_candidates_leads(sandbox, lease_name, make_elector, timeline):
    a, b = make_elector("a"), make_elector("b")
    a.start()
    b.start()
    leader = first_leader(a, b)
    standby = b if leader is a else a
    # Several renewals go by; the standby must stay a standby the whole time.
    assert not standby.leading.wait(4 * RETRY)
    assert leader.holds() and not standby.holds()
    assert standby.holder == leader.identity
    spec = lease_of(sandbox, lease_name)["spec"]
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"].endswith("Z") and spec["renewTime"] >= spec["acquireTime"]
    timeline.assert_no_overlap()


def test_dead_leader_is_replaced_once_its_lease_expires(sandbox, make_elector, timeline):
    a = make_elector("a")
    a.start()
    first_leader(a)
    b = make_elector("b")
    b.start()
    assert not b.leading.wait(2 * RETRY)
    a.stop(release=False)  # dies: no more renewals, no release
    last_renewal = a.expires_at - TIMINGS["renew_deadline"]
    timeline.record("a", "end", a.expires_at)
    first_leader(b)
    took_over = timeline.first("b", "start")
    assert took_over is not None
    # Never before the lease could have expired, and promptly once it did.
    assert LEASE <= took_over - last_renewal <= LEASE + 1.2 * RETRY + SLACK
    assert lease_of(sandbox, b.name)["spec"]["leaseTransitions"] == 1
    timeline.assert_no_overlap()


def test_partitioned_leader_steps_down_before_anyone_takes_over(sandbox, make_elector, timeline):
    link = PartitionableClient(sandbox.api_client())
    a = make_elector("a", link)
    a.start()
    first_leader(a)
    b = make_elector("b")
    b.start()
    assert not b.leading.wait(2 * RETRY)
    link.link_up.clear()  # a's renewals now hang
    assert a.lost.wait(TIMINGS["renew_deadline"] + RETRY + SLACK)
    assert not a.holds() and not a.leading.is_set()
    first_leader(b)
    lost_at, took_over = timeline.first("a", "end"), timeline.first("b", "start")
    assert lost_at is not None and took_over is not None and lost_at < took_over
    link.link_up.set()  # the hung renewal lands late, with a stale resourceVersion
    wait_for(lambda: lease_of(sandbox, b.name)["spec"]["holderIdentity"] == "b", timeout=2)
    assert b.holds()
    assert not a.leading.wait(3 * RETRY), "a lost leader never leads again"
    timeline.assert_no_overlap()


def test_api_errors_on_renewal_make_the_leader_stop(sandbox, make_elector, timeline):
    a = make_elector("a")
    a.start()
    first_leader(a)
    b = make_elector("b")
    b.start()
    sandbox.inject_fault(verb="update", resource="leases", status=503, count=None)
    try:
        assert a.lost.wait(TIMINGS["renew_deadline"] + RETRY + SLACK)
        # b cannot write the Lease either, so nobody leads until the API heals.
        assert not b.leading.wait(LEASE + 2 * RETRY)
    finally:
        sandbox.clear_faults()
    first_leader(b)
    timeline.assert_no_overlap()


def test_graceful_release_hands_over_without_waiting_for_expiry(sandbox, make_elector, timeline):
    # A lease long enough that waiting for it to expire could not pass for a hand-over.
    timings = {"lease_duration": 10.0, "renew_deadline": 6.0}
    a, b = make_elector("a", **timings), make_elector("b", **timings)
    a.start()
    first_leader(a)
    b.start()
    assert not b.leading.wait(2 * RETRY)
    released = time.monotonic()
    a.stop(release=True)
    timeline.record("a", "end", released)
    assert not a.lost.is_set(), "a graceful stop is not a loss"
    first_leader(b)
    took_over = timeline.first("b", "start")
    assert took_over is not None and took_over - released < timings["lease_duration"] / 3
    spec = lease_of(sandbox, b.name)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    timeline.assert_no_overlap()


def test_holds_reads_the_clock_not_the_elector_thread(sandbox, lease_name):
    now = [1000.0]
    elector = LeaderElector(
        KubeClient(sandbox.api_client()),
        NAMESPACE,
        lease_name,
        "a",
        clock=lambda: now[0],
        **TIMINGS,
    )
    elector.start()
    try:
        wait_for(elector.leading.is_set, timeout=5, what="leadership")
        assert elector.holds()
        # As after a freeze (SIGSTOP, a long pause): the deadline passed while nothing ran.
        now[0] += TIMINGS["renew_deadline"]
        assert not elector.holds()
    finally:
        elector.stop(release=False)


@pytest.mark.parametrize(
    "timings",
    [
        {"lease_duration": 10, "renew_deadline": 10, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 2, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 10, "retry_period": 0},
    ],
)
def test_unsafe_timings_are_refused(timings):
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaderElector(None, NAMESPACE, "x", "a", **timings)  # type: ignore[arg-type]
