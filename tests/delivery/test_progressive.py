"""Canaries under analysis against a real Prometheus, through the whole loop on the sandbox.

Each scenario of docs/progressive-delivery.md: a good canary steps through every weight and is
promoted; a bad one is rolled back at its first step; Prometheus going away holds the weight and
the analysis resumes when it is back; a restarted reconciler resumes at the step it was at. The
status branch's history of the spec's file is the record checked: one commit per step.
"""

from __future__ import annotations

from typing import Any

import pygit2
import yaml

from tests.delivery.prometheus import BAD, GOOD, Behaviour, Exporter, Prometheus
from tests.loop.harness import Document, Loop
from tests.waiting import wait_for

NAME = "scorer"
STABLE = "s3://models/v1/"
CANARY = "s3://models/v2/"
PREDICTION = 'max(model_prediction_mean{namespace="{{namespace}}",deployment="{{revision}}"})'


def scorer(steps: list[int], failure_limit: int) -> Document:
    analysis = {
        "steps": steps,
        "interval": "3s",
        "failureLimit": failure_limit,
        "metrics": [
            {"name": "request-success-rate", "min": 0.99},
            {"name": "latency-p99", "max": 0.3},
            {"name": "prediction-mean", "query": PREDICTION, "min": 0.4, "max": 0.6},
        ],
    }
    spec = {
        "model": {"uri": STABLE},
        "image": "ghcr.io/acme/server:1.0",
        "replicas": 4,
        "canary": {"model": {"uri": CANARY}, "analysis": analysis},
    }
    return Document("ModelDeployment", NAME, spec)


def serve(exporter: Exporter, prometheus: Prometheus, loop: Loop, canary: Behaviour) -> None:
    """Metrics for the spec's pods, in Prometheus long enough for a rate over one interval, as
    they would be once the canary had served for an interval."""
    exporter.serve(loop.namespace, NAME, GOOD, canary)
    query = f'rate(http_requests_total{{namespace="{loop.namespace}",pod=~"{NAME}-canary-.+"}}[3s])'
    wait_for(lambda: prometheus.has_data(query), 10, 0.1, what="the canary's request rate")


def analysis(loop: Loop) -> dict[str, Any]:
    status = loop.status("ModelDeployment", NAME)
    return (status or {}).get("analysis") or {}


def wait_analysis(loop: Loop, timeout: float = 25, **wanted: Any) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = analysis(loop)
        return found if all(found.get(k) == v for k, v in wanted.items()) else None

    return wait_for(reached, timeout, 0.05, what=f"analysis with {wanted}")


def history(loop: Loop) -> list[dict[str, Any]]:
    """The spec's status file at every commit of the status branch that changed it, oldest
    first: what ``git log -p`` shows."""
    repo = pygit2.Repository(str(loop.remote.bare))
    path = f"{loop.namespace}/modeldeployment/{NAME}.yaml"
    seen: list[dict[str, Any]] = []
    walker = repo.walk(repo.references["refs/heads/status"].target, pygit2.enums.SortMode.REVERSE)
    last = None
    for commit in walker:
        try:
            blob = commit.tree[path]
        except KeyError:
            continue
        if blob.id != last:
            last = blob.id
            seen.append(yaml.safe_load(repo[blob.id].data))
    return seen


def weights(states: list[dict[str, Any]]) -> list[int]:
    """The canary's weight along the history, each new weight once."""
    found: list[int] = []
    for state in states:
        weight = (state.get("analysis") or {}).get("weight")
        if weight is not None and (not found or found[-1] != weight):
            found.append(weight)
    return found


def replicas(loop: Loop, name: str) -> int | None:
    found = {
        d.metadata.name: d.spec.replicas
        for d in loop.apps.list_namespaced_deployment(loop.namespace).items
    }
    return found.get(name)


def test_a_good_canary_steps_through_every_weight_and_is_promoted(loop, exporter, prometheus):
    serve(exporter, prometheus, loop, GOOD)
    # Room for inconclusive checks: on a loaded machine a scrape can come late, leaving a rate
    # over one interval without data; such a check holds the weight and is retried.
    loop.commit({"models/scorer.yaml": scorer([25, 50], failure_limit=3)})
    loop.start(prometheus_url=prometheus.url)

    final = wait_analysis(loop, phase="Promoted")
    assert {check["verdict"] for check in final["checks"]} <= {"Pass", "Inconclusive"}
    passed = [check for check in final["checks"] if check["verdict"] == "Pass"]
    assert [check["weight"] for check in passed] == [25, 50]
    first = passed[0]["metrics"]
    assert first["request-success-rate"]["value"] == 1
    assert first["latency-p99"]["value"] < 0.3
    assert first["prediction-mean"]["value"] == 0.5
    assert weights(history(loop)) == [25, 50, 100]

    # The canary's model is now the one served, by the stable Deployment alone.
    status = loop.wait_phase("ModelDeployment", NAME, "Ready")
    assert status["model"]["uri"] == CANARY and "canary" not in status
    wait_for(lambda: replicas(loop, f"{NAME}-canary") is None, 10, what="canary pruned")
    stable = loop.apps.read_namespaced_deployment(NAME, loop.namespace)
    env = {e.name: e.value for e in stable.spec.template.spec.containers[0].env}
    assert (stable.spec.replicas, env["MODEL_URI"]) == (4, CANARY)


def test_a_bad_canary_is_rolled_back_at_the_first_failing_step(loop, exporter, prometheus):
    serve(exporter, prometheus, loop, BAD)
    loop.commit({"models/scorer.yaml": scorer([25, 50], failure_limit=0)})
    loop.start(prometheus_url=prometheus.url)

    final = wait_analysis(loop, phase="RolledBack")
    assert (final["step"], final["weight"], final["failures"]) == (1, 0, 1)
    (check,) = final["checks"]
    assert (check["weight"], check["verdict"]) == (25, "Fail")
    assert {name: reading["verdict"] for name, reading in check["metrics"].items()} == {
        "request-success-rate": "Fail",
        "latency-p99": "Fail",
        "prediction-mean": "Fail",
    }
    assert check["metrics"]["request-success-rate"]["value"] == 0.9
    assert weights(history(loop)) == [25, 0]
    # All traffic to the primary: the held canary runs no pod.
    wait_for(lambda: replicas(loop, f"{NAME}-canary") == 0, 10, what="canary scaled to 0")
    assert replicas(loop, NAME) == 4
    # Serving works on the primary, but someone has to look at the canary: Degraded.
    status = loop.wait_phase("ModelDeployment", NAME, "Degraded")
    assert status["model"]["uri"] == STABLE
    assert (status["canary"]["uri"], status["canary"]["trafficPercent"]) == (CANARY, 0)
    (ready,) = status["conditions"]
    assert ready["reason"] == "CanaryRolledBack"
    assert ready["message"] == (
        f"canary {CANARY} rolled back at 25%: latency-p99, prediction-mean, "
        "request-success-rate failed; all traffic on the primary"
    )


def test_prometheus_unreachable_holds_the_weight_and_the_analysis_resumes(
    loop, exporter, prometheus
):
    serve(exporter, prometheus, loop, GOOD)
    loop.commit({"models/scorer.yaml": scorer([25, 50, 75], failure_limit=4)})
    loop.start(prometheus_url=prometheus.url)
    wait_analysis(loop, step=2, weight=50)

    prometheus.stop()
    try:
        held = wait_for(
            lambda: (
                (found := analysis(loop))
                and found["checks"][-1]["verdict"] == "Inconclusive"
                and found
            ),
            15,
            0.05,
            what="an inconclusive check while Prometheus is down",
        )
        assert (held["phase"], held["weight"], held["step"]) == ("Progressing", 50, 2)
        reading = held["checks"][-1]["metrics"]["request-success-rate"]
        # Why, without the address: an operator's URL may carry credentials.
        assert reading["reason"] == "Prometheus unreachable (NewConnectionError)"
        assert replicas(loop, f"{NAME}-canary") == 2
    finally:
        prometheus.start()

    final = wait_analysis(loop, phase="Promoted")
    assert 1 <= final["failures"] <= 4
    assert weights(history(loop)) == [25, 50, 75, 100]


def test_a_restart_mid_analysis_resumes_at_the_same_step(loop, exporter, prometheus):
    serve(exporter, prometheus, loop, GOOD)
    loop.commit({"models/scorer.yaml": scorer([25, 50, 75], failure_limit=3)})
    loop.start(prometheus_url=prometheus.url)
    before = wait_analysis(loop, step=2, weight=50)
    loop.stop()

    loop.start(prometheus_url=prometheus.url)
    final = wait_analysis(loop, phase="Promoted")
    assert final["startedAt"] == before["startedAt"]
    passed = [check["weight"] for check in final["checks"] if check["verdict"] == "Pass"]
    assert passed == [25, 50, 75]
    # Never back to the first step, never straight to the end.
    assert weights(history(loop)) == [25, 50, 75, 100]
