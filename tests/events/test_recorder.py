"""EventRecorder against the sandbox: one Event per repeat series, a cap on the rate, and a
failing API server that never reaches the caller."""

from __future__ import annotations

import time

import pytest

from reconciler.cluster.client import KubeClient
from reconciler.cluster.events import EventRecorder
from reconciler.events import Occurrence
from reconciler.inventory import ObjectRef
from reconciler.metrics import Metrics
from reconciler_sandbox.testing import running_sandbox
from tests.waiting import wait_for

PATH = "/apis/events.k8s.io/v1/namespaces/default/events"


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox() as running:
        yield running


@pytest.fixture
def client(sandbox):
    client = KubeClient(sandbox.api_client())
    yield client
    client.close()


def occurrence(name: str, reason: str = "Created", note: str = "ModelDeployment/m at 1234567"):
    ref = ObjectRef("apps/v1", "Deployment", "default", name)
    return Occurrence(ref, "Normal", "Apply", reason, note)


def events_for(client: KubeClient, name: str) -> list[dict]:
    items = client.request("GET", PATH)["items"]
    return [item for item in items if item["regarding"]["name"] == name]


def test_a_repeat_extends_the_series_instead_of_making_another_event(client):
    recorder = EventRecorder(client, "inst-1", Metrics())
    recorder.start()
    try:
        recorder.record(occurrence("web"))
        wait_for(lambda: not recorder.pending, what="the first event posted")
        for _ in range(3):
            recorder.record(occurrence("web", note="a different note, the same event"))
        recorder.record(occurrence("web", reason="Configured"))
        wait_for(lambda: not recorder.pending, what="the repeats posted")
    finally:
        recorder.stop()

    found = {event["reason"]: event for event in events_for(client, "web")}
    assert sorted(found) == ["Configured", "Created"]
    created = found["Created"]
    assert created["series"]["count"] == 4
    assert created["note"] == "ModelDeployment/m at 1234567"
    assert created["reportingController"] == "reconciler"
    assert created["reportingInstance"] == "inst-1"
    assert (created["type"], created["action"]) == ("Normal", "Apply")
    assert created["regarding"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
    }
    assert "series" not in found["Configured"]


def test_a_repeat_after_the_window_is_a_new_event(client):
    now = [1000.0]
    recorder = EventRecorder(client, "inst-1", Metrics(), window=30.0, clock=lambda: now[0])
    recorder.start()
    try:
        recorder.record(occurrence("late"))
        wait_for(lambda: not recorder.pending, what="posted")
        now[0] += 31.0
        recorder.record(occurrence("late"))
    finally:
        recorder.stop()
    assert len(events_for(client, "late")) == 2


def test_the_rate_is_capped(client):
    recorder = EventRecorder(client, "inst-1", Metrics(), qps=20.0, burst=2)
    recorder.start()
    began = time.monotonic()
    try:
        for index in range(8):
            recorder.record(occurrence(f"rate-{index}"))
        wait_for(lambda: not recorder.pending, what="all posted")
    finally:
        recorder.stop()
    # Two at once, then one every 50 ms: six more take at least 0.3 s.
    assert time.monotonic() - began >= 0.28
    assert all(len(events_for(client, f"rate-{index}")) == 1 for index in range(8))


def test_an_unreachable_api_server_is_counted_never_raised(sandbox):
    with running_sandbox() as gone:
        client = KubeClient(gone.api_client())
    metrics = Metrics()
    recorder = EventRecorder(client, "inst-1", metrics)
    recorder.start()
    try:
        recorder.record(occurrence("web"))
        wait_for(lambda: not recorder.pending, timeout=30, what="the attempt")
    finally:
        recorder.stop()
        client.close()
    assert metrics.registry.get_sample_value("reconciler_kube_events_total", {"result": "failed"})


def test_a_full_queue_drops_and_counts(client):
    metrics = Metrics()
    recorder = EventRecorder(client, "inst-1", metrics, queue_size=2)  # not started: nothing drains
    for index in range(5):
        recorder.record(occurrence(f"full-{index}"))
    dropped = metrics.registry.get_sample_value(
        "reconciler_kube_events_total", {"result": "dropped"}
    )
    assert dropped == 3
