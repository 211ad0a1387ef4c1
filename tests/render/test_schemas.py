"""Every manifest the renderer emits is accepted by the API server's schema for its kind."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from reconciler.render import render
from tests.render.support import (
    context,
    load_examples,
    loaded,
    model_deployment,
    pipeline,
    training_job,
    validate,
)

SECRET = {"secretKeyRef": {"name": "creds", "key": "token"}}
CONFIG = {"configMapKeyRef": {"name": "settings", "key": "level"}}
RESOURCES = {"cpu": "1500m", "memory": "2Gi", "gpu": 1}
AUTOSCALING = {"minReplicas": 2, "maxReplicas": 6, "target_cpu_utilization_percentage": 65}
CANARY = {"model": {"uri": "s3://models/m/2/"}, "trafficPercent": 20}

CASES = {
    "deployment": model_deployment(image="ghcr.io/acme/srv:1", replicas=3),
    "deployment-autoscaling": model_deployment(image="ghcr.io/acme/srv:1", autoscaling=AUTOSCALING),
    "deployment-canary-autoscaling-gpu-env": model_deployment(
        image="ghcr.io/acme/srv:1",
        autoscaling=AUTOSCALING,
        canary=CANARY,
        resources=RESOURCES,
        env={"TOKEN": SECRET, "LEVEL": CONFIG, "PLAIN": 3},
        port=9000,
    ),
    "deployment-canary-all": model_deployment(
        image="ghcr.io/acme/srv:1", replicas=2, canary={**CANARY, "trafficPercent": 100}
    ),
    "kserve-sklearn": model_deployment(runtime="kserve", format="sklearn", replicas=2),
    "kserve-huggingface-canary-autoscaling": model_deployment(
        runtime="kserve",
        format="huggingface",
        autoscaling=AUTOSCALING,
        canary=CANARY,
        resources=RESOURCES,
        env={"HF_TOKEN": SECRET},
    ),
    "kserve-custom": model_deployment(
        runtime="kserve", format="custom", image="ghcr.io/acme/srv:1", env={"LEVEL": CONFIG}
    ),
    "kserve-zero": model_deployment(runtime="kserve", format="onnx", replicas=0),
    "seldon-sklearn": model_deployment(runtime="seldon", format="sklearn", replicas=2),
    "seldon-custom-gpu": model_deployment(
        runtime="seldon", format="custom", image="ghcr.io/acme/srv:1", resources=RESOURCES
    ),
    "seldon-pytorch-canary-autoscaling": model_deployment(
        runtime="seldon",
        format="pytorch",
        autoscaling=AUTOSCALING,
        canary=CANARY,
        env={"TOKEN": SECRET},
    ),
    "job": training_job(
        hyperparameters={"lr": 0.01, "n-layers": 4, "use.amp": True},
        env={"TOKEN": SECRET, "LEVEL": CONFIG},
        resources=RESOURCES,
        output={"uri": "s3://out/{run}/model.pt"},
        timeout="1h30m",
        backoffLimit=2,
    ),
    "job-minimal": training_job(command=[]),
    "pytorchjob": training_job(
        backend="pytorchjob", workers=4, resources=RESOURCES, env={"TOKEN": SECRET}, timeout="2h"
    ),
    "pytorchjob-single": training_job(backend="pytorchjob"),
    "rayjob": training_job(
        backend="rayjob",
        workers=3,
        resources=RESOURCES,
        hyperparameters={"epochs": 3},
        output={"uri": "gs://out/{run}/"},
        timeout="45m",
    ),
    "rayjob-single": training_job(backend="rayjob"),
    "trainjob": training_job(
        backend="trainjob",
        workers=4,
        resources=RESOURCES,
        env={"TOKEN": SECRET, "LEVEL": CONFIG},
        hyperparameters={"lr": 0.01},
        output={"uri": "s3://out/{run}/"},
        timeout="2h",
    ),
    "trainjob-minimal": training_job(
        backend="trainjob", command=[], trainingRuntime="torchtune-llama3.2-1b"
    ),
    "pipeline": pipeline(runTrigger="nightly"),
}


def _rendered_cases() -> list[tuple[str, dict]]:
    result = []
    for case, doc in CASES.items():
        spec = loaded(doc)
        for manifest in render(spec, context(spec)):
            result.append((f"{case}:{manifest['kind']}/{manifest['metadata']['name']}", manifest))
    return result


RENDERED = _rendered_cases()


def test_every_case_renders_something() -> None:
    rendered_cases = {name.split(":")[0] for name, _ in RENDERED}
    assert rendered_cases == set(CASES)


@pytest.mark.parametrize("manifest", [m for _, m in RENDERED], ids=[n for n, _ in RENDERED])
def test_table_manifest_is_valid(manifest: dict) -> None:
    validate(manifest)


def test_examples_are_valid() -> None:
    specs = load_examples()
    ctx = context(*specs)
    kinds = set()
    for spec in specs:
        manifests = render(spec, ctx)
        assert manifests, f"{spec.key} rendered nothing"
        for manifest in manifests:
            validate(manifest)
            kinds.add(manifest["kind"])
    assert {"Deployment", "Service", "InferenceService", "PyTorchJob", "Job", "TrainJob"} <= kinds


@pytest.mark.parametrize(
    "case", ["job", "kserve-sklearn", "seldon-sklearn", "rayjob", "pytorchjob", "trainjob"]
)
def test_validation_rejects_unknown_fields(case: str) -> None:
    """The checks above can fail: a stray field in the spec body is refused."""
    spec = loaded(CASES[case])
    manifest = render(spec, context(spec))[0]
    manifest["spec"]["notAField"] = 1
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(manifest)
