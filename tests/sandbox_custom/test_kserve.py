"""Simulated KServe: InferenceServices become Ready, split canary traffic, and fail by rule."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from reconciler.health import assess
from reconciler.phase import Phase
from tests.sandbox_custom.conftest import Objects, model_deployment, rendered
from tests.waiting import wait_for


def settled(obj: dict[str, Any], phase: Phase, generation: int) -> bool:
    """``obj`` at ``generation``, observed by the controller, in ``phase``."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed == obj["metadata"]["generation"] == generation and assess(obj).phase is phase


def phase_is(objects: Objects, name: str, phase: Phase, generation: int = 1) -> Any:
    return lambda: (obj := objects.get(name)) and settled(obj, phase, generation) and obj


def test_inference_service_becomes_ready(custom: client.CustomObjectsApi, namespace: str) -> None:
    services = Objects(custom, namespace, "InferenceService")
    services.create(rendered(model_deployment("iris", runtime="kserve"), namespace))
    ready = wait_for(phase_is(services, "iris", Phase.READY), what="iris Ready")
    status = ready["status"]
    assert status["url"] == f"http://iris.{namespace}.example.com"
    assert status["address"]["url"] == f"http://iris.{namespace}.svc.cluster.local"
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    for kind in ("PredictorReady", "IngressReady", "Ready"):
        assert conditions[kind]["status"] == "True" and conditions[kind]["lastTransitionTime"]
    predictor = status["components"]["predictor"]
    assert (
        predictor["latestReadyRevision"]
        == predictor["latestCreatedRevision"]
        == "iris-predictor-00001"
    )
    assert predictor["url"] == f"http://iris-predictor.{namespace}.example.com"
    assert predictor["traffic"] == [
        {"latestRevision": True, "percent": 100, "revisionName": "iris-predictor-00001"}
    ]
    assert status["modelStatus"]["states"] == {
        "activeModelState": "Loaded",
        "targetModelState": "Loaded",
    }
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"


def test_canary_splits_traffic_and_promotion_moves_all_of_it(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    services = Objects(custom, namespace, "InferenceService")
    services.create(rendered(model_deployment("iris", runtime="kserve"), namespace))
    wait_for(phase_is(services, "iris", Phase.READY), what="iris Ready")

    canary = {"model": {"uri": "s3://models/iris/2/"}, "trafficPercent": 20}
    since = services.resource_version()
    services.replace(rendered(model_deployment("iris", runtime="kserve", canary=canary), namespace))
    history = services.history("iris", since, lambda o: settled(o, Phase.READY, 2))
    observed = [o for o in history if o["status"]["observedGeneration"] == 2]
    assert [(assess(o).phase, assess(o).reason) for o in observed] == [
        (Phase.PROGRESSING, "RevisionMissing"),
        (Phase.READY, "Ready"),
    ]
    predictor = history[-1]["status"]["components"]["predictor"]
    assert predictor["latestReadyRevision"] == "iris-predictor-00002"
    assert predictor["latestRolledoutRevision"] == "iris-predictor-00001"
    split = {
        (t["revisionName"], t["percent"], t["latestRevision"], t["tag"])
        for t in predictor["traffic"]
    }
    assert split == {
        ("iris-predictor-00002", 20, True, "latest"),
        ("iris-predictor-00001", 80, False, "prev"),
    }

    # Promotion: the canary model becomes the model, no canary. Same revision, all the traffic.
    since = services.resource_version()
    promoted = model_deployment("iris", runtime="kserve", model={"uri": "s3://models/iris/2/"})
    services.replace(rendered(promoted, namespace))
    history = services.history("iris", since, lambda o: settled(o, Phase.READY, 3))
    observed = [o for o in history if o["status"]["observedGeneration"] == 3]
    assert [(assess(o).phase, assess(o).reason) for o in observed] == [
        (Phase.PROGRESSING, "IngressNotConfigured"),
        (Phase.READY, "Ready"),
    ]
    predictor = history[-1]["status"]["components"]["predictor"]
    assert (
        predictor["latestRolledoutRevision"]
        == predictor["latestReadyRevision"]
        == "iris-predictor-00002"
    )
    assert predictor["traffic"] == [
        {"latestRevision": True, "percent": 100, "revisionName": "iris-predictor-00002"}
    ]


def test_brand_new_service_with_a_canary_gets_all_traffic(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    services = Objects(custom, namespace, "InferenceService")
    canary = {"model": {"uri": "s3://models/iris/2/"}, "trafficPercent": 10}
    services.create(rendered(model_deployment("iris", runtime="kserve", canary=canary), namespace))
    ready = wait_for(phase_is(services, "iris", Phase.READY), what="iris Ready")
    traffic = ready["status"]["components"]["predictor"]["traffic"]
    assert [(t["revisionName"], t["percent"]) for t in traffic] == [("iris-predictor-00001", 100)]


def test_rule_fails_a_revision_and_the_old_one_keeps_serving(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules(
        {
            "services": [
                {
                    "namespace": namespace,
                    "model": "s3://broken/*",
                    "outcome": "Failed",
                    "message": "unpickling error: invalid load key",
                }
            ]
        }
    )
    services = Objects(custom, namespace, "InferenceService")
    services.create(rendered(model_deployment("iris", runtime="kserve"), namespace))
    wait_for(phase_is(services, "iris", Phase.READY), what="iris Ready")
    services.replace(
        rendered(
            model_deployment("iris", runtime="kserve", model={"uri": "s3://broken/m/"}), namespace
        )
    )
    failed = wait_for(phase_is(services, "iris", Phase.FAILED, generation=2), what="iris Failed")
    ready = {c["type"]: c for c in failed["status"]["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "RevisionFailed")
    assert (
        ready["message"]
        == 'Revision "iris-predictor-00002" failed with message: unpickling error: invalid load key.'
    )
    # KServe also reports the failed load in modelStatus, which health reads first.
    assert (assess(failed).reason, assess(failed).message) == (
        "ModelLoadFailed",
        "unpickling error: invalid load key",
    )
    predictor = failed["status"]["components"]["predictor"]
    assert predictor["latestCreatedRevision"] == "iris-predictor-00002"
    assert predictor["latestReadyRevision"] == "iris-predictor-00001"
    assert [t["percent"] for t in predictor["traffic"]] == [100]
    assert failed["status"]["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"


def test_custom_container_model_uri_is_matched_by_rules(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules({"services": [{"namespace": namespace, "model": "s3://broken/*", "outcome": "Failed"}]})
    services = Objects(custom, namespace, "InferenceService")
    spec = model_deployment(
        "web",
        runtime="kserve",
        format="custom",
        image="ghcr.io/acme/srv:1",
        model={"uri": "s3://broken/x/"},
    )
    services.create(rendered(spec, namespace))
    failed = wait_for(phase_is(services, "web", Phase.FAILED), what="web Failed")
    assert "url" not in failed["status"]
    assert {c["type"]: c["status"] for c in failed["status"]["conditions"]}["Ready"] == "False"
