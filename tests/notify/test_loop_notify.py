"""A running reconciler tells a configured receiver when a spec fails, once, and nobody else."""

from __future__ import annotations

import json

import pytest

from reconciler_sandbox.testing import running_sandbox
from tests.loop.harness import running_loop, serving
from tests.notify.receiver import receiving
from tests.waiting import wait_for


@pytest.fixture
def sandbox():
    with running_sandbox(deployment_delay=0.05) as running:
        yield running


def test_a_failing_spec_is_notified_once_with_its_fields(tmp_path, sandbox):
    with (
        running_loop(tmp_path, sandbox) as loop,
        receiving() as failures,
        receiving() as elsewhere,
    ):
        receivers = [
            {"url": failures.url, "phases": ["Failed"], "name": "failures"},
            {"url": elsewhere.url, "namespaces": ["not-this-one"], "name": "elsewhere"},
        ]
        # KServe is not installed in this sandbox: the spec fails with NotInstalled.
        loop.commit({"models/k.yaml": serving("kserve-model", runtime="kserve", format="sklearn")})
        head = loop.commit({"models/ok.yaml": serving("fine")})
        loop.start(notify_receivers=json.dumps(receivers))
        loop.wait_phase("ModelDeployment", "kserve-model", "Failed")
        loop.wait_phase("ModelDeployment", "fine", "Ready")
        loop.idle()
        engine = loop.service.engine
        done = engine.reconciles
        engine.trigger("resync")
        wait_for(lambda: engine.reconciles > done, what="a resync")
        loop.idle()

    (body,) = failures.received
    assert body["kind"] == "ModelDeployment" and body["name"] == "kserve-model"
    assert body["namespace"] == loop.namespace
    assert body["phase"] == "Failed" and body["previousPhase"] is None
    assert "kserve is not installed" in body["message"]
    assert body["sourceCommit"] == head  # the first commit reconciled holding the spec
    assert body["time"].endswith("Z")
    assert elsewhere.attempts == []
