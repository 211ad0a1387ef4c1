"""Simulated Seldon Core: SeldonDeployments go Creating -> Available, or Failed by rule."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from reconciler.health import assess
from reconciler.phase import Phase
from tests.sandbox_custom.conftest import Objects, model_deployment, rendered
from tests.waiting import wait_for


def test_seldon_deployment_with_canary_becomes_available(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    deployments = Objects(custom, namespace, "SeldonDeployment")
    since = deployments.resource_version()
    canary = {"model": {"uri": "s3://models/iris/2/"}, "trafficPercent": 25}
    deployments.create(
        rendered(model_deployment("iris", runtime="seldon", replicas=4, canary=canary), namespace)
    )
    history = deployments.history("iris", since, lambda o: assess(o).phase is Phase.READY)
    states = [o["status"]["state"] for o in history if o.get("status")]
    assert states == ["Creating", "Available"]
    status = history[-1]["status"]
    assert status["deploymentStatus"] == {
        "iris-default-0-model": {"replicas": 3, "availableReplicas": 3},
        "iris-canary-0-model": {"replicas": 1, "availableReplicas": 1},
    }
    assert status["replicas"] == 4
    assert (
        status["address"]["url"]
        == f"http://iris-default.{namespace}.svc.cluster.local:8000/api/v1.0/predictions"
    )
    assert assess(history[-1]).reason == "Available"


def test_rule_fails_a_seldon_deployment_with_a_description(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules(
        {
            "services": [
                {
                    "match": "iris",
                    "namespace": namespace,
                    "model": "s3://broken/*",
                    "outcome": "Failed",
                    "message": "model server crashed on load",
                }
            ]
        }
    )
    deployments = Objects(custom, namespace, "SeldonDeployment")
    deployments.create(
        rendered(
            model_deployment("iris", runtime="seldon", model={"uri": "s3://broken/m/"}), namespace
        )
    )
    failed = wait_for(
        lambda: (o := deployments.get("iris")) and assess(o).phase is Phase.FAILED and o,
        what="iris Failed",
    )
    assert failed["status"]["state"] == "Failed"
    assert assess(failed).message == "model server crashed on load"
