"""The /sandbox/ control surface and its Python twin: counters, faults, rules."""

from __future__ import annotations

import http.client

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import running_sandbox
from tests.sandbox.rawhttp import connect, request


@pytest.fixture
def private() -> Sandbox:
    """Counters and faults are global to a sandbox: these tests get one of their own."""
    with running_sandbox() as sandbox:
        yield sandbox


def test_counters_by_verb_and_resource(private: Sandbox) -> None:
    apps = client.AppsV1Api(private.api_client())
    private.reset_counters()
    apps.list_namespaced_deployment("default")
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("x", "default")
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment_status("x", "default")
    assert private.counters() == {
        "list deployments": 1,
        "get deployments": 1,
        "get deployments/status": 1,
    }
    assert request(private, "GET", "/sandbox/counters").json() == private.counters()
    assert request(private, "POST", "/sandbox/counters/reset").status == 200
    assert private.counters() == {}


def test_fault_with_status_and_retry_after_for_n_requests(private: Sandbox) -> None:
    core = client.CoreV1Api(private.api_client())
    response = request(
        private,
        "POST",
        "/sandbox/faults",
        {
            "verb": "get",
            "resource": "configmaps",
            "name": "flaky*",
            "status": 503,
            "retryAfter": 2,
            "count": 2,
        },
    )
    assert response.status == 201
    core.create_namespaced_config_map("default", {"metadata": {"name": "flaky1"}})
    for _ in range(2):
        failed = request(private, "GET", "/api/v1/namespaces/default/configmaps/flaky1")
        assert failed.status == 503 and failed.headers["Retry-After"] == "2"
        assert failed.json()["reason"] == "ServiceUnavailable"
    assert core.read_namespaced_config_map("flaky1", "default").metadata.name == "flaky1"


def test_fault_that_drops_the_connection(private: Sandbox) -> None:
    private.inject_fault(verb="list", resource="pods", drop=True, count=1)
    conn = connect(private)
    conn.request(
        "GET",
        "/api/v1/namespaces/default/pods",
        headers={"Authorization": f"Bearer {private.token}"},
    )
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()
    assert request(private, "GET", "/api/v1/namespaces/default/pods").status == 200


def test_fault_latency_and_clearing(private: Sandbox) -> None:
    private.inject_fault(verb="*", resource="namespaces", status=429, count=None)
    assert request(private, "GET", "/api/v1/namespaces").status == 429
    assert request(private, "DELETE", "/sandbox/faults").status == 200
    assert request(private, "GET", "/api/v1/namespaces").status == 200
    private.inject_fault(resource="namespaces", latency=0.01)
    assert request(private, "GET", "/api/v1/namespaces").status == 200


def test_rules_endpoint(private: Sandbox) -> None:
    rules = b"jobs:\n  - match: 'fail-*'\n    outcome: Failed\n    message: boom\n"
    assert request(private, "POST", "/sandbox/rules", rules, "application/yaml").status == 200
    assert private.scenario.job_rule("default", "fail-1").outcome == "Failed"
    assert private.scenario.job_rule("default", "ok").outcome == "Succeeded"
    bad = request(
        private, "POST", "/sandbox/rules", b"jobs: [{outcome: Maybe}]", "application/yaml"
    )
    assert bad.status == 400


def test_scenario_file_at_start(tmp_path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "deployments: {delay: 0.01}\nfaults:\n  - {verb: create, resource: pods, status: 500}\n"
    )
    with running_sandbox(scenario=scenario) as sandbox:
        assert sandbox.scenario.deployment_delay == 0.01
        core = client.CoreV1Api(sandbox.api_client())
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_pod(
                "default",
                {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            )
        assert caught.value.status == 500


def test_sandboxes_do_not_share_state() -> None:
    with running_sandbox() as first:
        client.CoreV1Api(first.api_client()).create_namespace({"metadata": {"name": "only-here"}})
        with running_sandbox() as second:
            assert second.token != first.token and second.port != first.port
            names = [
                n.metadata.name
                for n in client.CoreV1Api(second.api_client()).list_namespace().items
            ]
            assert names == ["default", "kube-system"]
