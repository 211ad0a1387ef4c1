"""Canary splits on every runtime, rendered into the cluster and reported in status."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.loop.harness import Document

CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"


@pytest.fixture
def sandbox_crds():
    if not CRDS.is_dir():
        pytest.skip(f"the upstream CRDs are not beside the project ({CRDS.name} folder absent)")
    return CRDS


def canary_spec(name: str, runtime: str) -> Document:
    spec = {
        "model": {"uri": "s3://models/stable/"},
        "runtime": runtime,
        "format": "sklearn",
        "replicas": 4,
        "canary": {"model": {"uri": "s3://models/candidate/"}, "trafficPercent": 25},
    }
    if runtime == "deployment":
        spec["image"] = "ghcr.io/acme/server:1.0"
    return Document("ModelDeployment", name, spec)


def reported(status: dict) -> tuple:
    return (
        status["model"]["uri"],
        status["canary"]["uri"],
        status["canary"]["trafficPercent"],
    )


def test_deployment_canary_splits_replicas_behind_one_service(loop):
    loop.commit({"models/d.yaml": canary_spec("canary-d", "deployment")})
    loop.start()
    status = loop.wait_phase("ModelDeployment", "canary-d", "Ready")
    apps = loop.apps
    assert apps.read_namespaced_deployment("canary-d", loop.namespace).spec.replicas == 3
    assert apps.read_namespaced_deployment("canary-d-canary", loop.namespace).spec.replicas == 1
    assert reported(status) == ("s3://models/stable/", "s3://models/candidate/", 25)


def test_kserve_canary_sets_canary_traffic_percent(loop):
    loop.commit({"models/k.yaml": canary_spec("canary-k", "kserve")})
    loop.start()
    status = loop.wait_phase("ModelDeployment", "canary-k", "Ready")
    isvc = k8s.CustomObjectsApi(loop.api).get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", loop.namespace, "inferenceservices", "canary-k"
    )
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert reported(status) == ("s3://models/stable/", "s3://models/candidate/", 25)


@pytest.mark.sandbox_only("a real API server refuses the upstream SeldonDeployment CRD")
def test_seldon_canary_splits_traffic_between_predictors(loop):
    loop.commit({"models/s.yaml": canary_spec("canary-s", "seldon")})
    loop.start()
    status = loop.wait_phase("ModelDeployment", "canary-s", "Ready")
    deployment = k8s.CustomObjectsApi(loop.api).get_namespaced_custom_object(
        "machinelearning.seldon.io", "v1", loop.namespace, "seldondeployments", "canary-s"
    )
    traffic = {p["name"]: p["traffic"] for p in deployment["spec"]["predictors"]}
    assert traffic == {"default": 75, "canary": 25}
    assert reported(status) == ("s3://models/stable/", "s3://models/candidate/", 25)
