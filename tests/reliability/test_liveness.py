"""Probes that tell the truth: a stuck worker fails /healthz, an absent API server fails /readyz."""

from __future__ import annotations

import pytest
import yaml

from reconciler.service import Service
from reconciler_sandbox.core import Sandbox
from tests.cluster.fixtures import Cluster
from tests.loop.conftest import loop, sandbox  # noqa: F401 - the loop tests' fixtures
from tests.loop.harness import Loop, serving
from tests.reliability.running import free_port, in_background, probe
from tests.waiting import wait_for


def replicas(loop: Loop, name: str) -> int:  # noqa: F811
    return loop.apps.read_namespaced_deployment(name, loop.namespace).spec.replicas


@pytest.mark.sandbox_only("injects API latency")
def test_stuck_reconcile_fails_healthz_until_it_moves_on(loop):  # noqa: F811
    loop.commit({"models/m.yaml": serving("model-0")})
    service = loop.start(metrics_port=0, stuck_after=0.5)
    loop.wait_phase("ModelDeployment", "model-0", "Ready")
    loop.idle()
    assert probe(service, "/healthz") == (200, "ok\n")
    # The next apply hangs for 3 s: a worker stuck on a call, six times the bound.
    loop.sandbox.inject_fault(verb="patch", resource="deployments", latency=3, count=1)
    loop.commit({"models/m.yaml": serving("model-0", replicas=2)})
    _, body = wait_for(
        lambda: (found := probe(service, "/healthz"))[0] == 503 and found,
        timeout=5,
        what="/healthz failing while the reconcile is stuck",
    )
    assert body.startswith("reconcile stuck: running for ") and "over 0.5s" in body
    wait_for(lambda: probe(service, "/healthz")[0] == 200, what="live again once it moved on")
    wait_for(lambda: replicas(loop, "model-0") == 2, what="the stuck apply completed")


def test_unreachable_api_server_at_start_is_retried_while_readyz_says_why(tmp_path):
    port = free_port()
    # The API server comes up later on a known port; until then nothing listens there.
    cluster = Sandbox(port=port, tls=False, deployment_delay=0.05)
    cluster.write_kubeconfig(tmp_path / "kubeconfig")
    assert cluster.kubeconfig_path is not None
    late = Loop(tmp_path, Cluster("sandbox", cluster.kubeconfig_path, cluster), "ml")
    late.commit({"models/m.yaml": serving("model-0")})
    service = Service.open(late.settings(metrics_port=0))
    try:
        with in_background(service):
            _, body = wait_for(
                lambda: (
                    (found := probe(service, "/readyz"))[0] == 503
                    and "API server" in found[1]
                    and found
                ),
                what="/readyz naming the unreachable API server",
            )
            reason = "MaxRetryError: Connection refused"
            assert body == f"API server unreachable at 127.0.0.1:{port}: {reason}\n"
            assert cluster.token not in body
            assert probe(service, "/healthz")[0] == 200  # alive: restarting would not help
            cluster.start()
            late.wait_phase("ModelDeployment", "model-0", "Ready", timeout=20)
            _, body = wait_for(
                lambda: (found := probe(service, "/readyz"))[0] == 200 and found,
                what="ready once the API server answered",
            )
            assert body.startswith("reconciled ")
            assert replicas(late, "model-0") == 1
    finally:
        late.api.close()
        cluster.stop()


def test_readyz_says_why_the_repository_configuration_is_refused(loop):  # noqa: F811
    loop.commit({"models/m.yaml": serving("model-0")})
    service = loop.start(metrics_port=0)
    loop.wait_phase("ModelDeployment", "model-0", "Ready")
    head = loop.commit({"reconciler.yaml": yaml.safe_dump({"allowedNamespace": [loop.namespace]})})
    _, body = wait_for(
        lambda: (found := probe(service, "/readyz"))[0] == 503 and found,
        what="/readyz refusing the configuration",
    )
    assert body.startswith("configuration refused: ") and head[:7] in body
    assert probe(service, "/healthz")[0] == 200
    assert replicas(loop, "model-0") == 1  # the last good configuration stays in force
