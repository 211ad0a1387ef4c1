"""backend trainjob: a Kubeflow Trainer v2 TrainJob per run, field by field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.render import render, run_hash
from tests.render.support import context, loaded, training_job

SECRET = {"secretKeyRef": {"name": "creds", "key": "token"}}


def _render(doc: dict) -> dict:
    spec = loaded(doc)
    [manifest] = render(spec, context(spec))
    return manifest


def test_trainjob_sets_what_the_runtime_leaves_to_it() -> None:
    doc = training_job(
        backend="trainjob",
        workers=4,
        args=["--data", "s3://d/"],
        resources={"cpu": "4", "memory": "16Gi", "gpu": 2},
        env={"TOKEN": SECRET},
        hyperparameters={"lr": 0.001},
        output={"uri": "s3://m/{run}/"},
        timeout="3h",
    )
    job = _render(doc)
    name = f"train-{run_hash(loaded(doc).spec)}"
    assert (job["apiVersion"], job["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert job["metadata"]["name"] == name
    assert job["metadata"]["labels"]["mlops/run-hash"] == name.rpartition("-")[2]
    assert job["metadata"]["annotations"]["mlops/output-uri"] == f"s3://m/{name}/"
    spec = job["spec"]
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    assert spec["activeDeadlineSeconds"] == 10800
    trainer = spec["trainer"]
    assert trainer["image"] == "ghcr.io/acme/train:1.0.0"
    assert trainer["command"] == ["python", "train.py"]
    assert trainer["args"] == ["--data", "s3://d/", "--lr=0.001"]
    assert trainer["numNodes"] == 4
    assert trainer["resourcesPerNode"] == {
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "4", "memory": "16Gi"},
    }
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in trainer["env"]}
    assert env == {"OUTPUT_URI": f"s3://m/{name}/", "HP_LR": "0.001", "TOKEN": SECRET}


def test_pod_labels_and_security_go_through_the_reconcilers_runtime_patch() -> None:
    doc = training_job(backend="trainjob", security={"runAsNonRoot": True})
    job = _render(doc)
    [patch] = job["spec"]["runtimePatches"]
    assert patch["manager"] == "reconciler"
    [replicated] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert replicated["name"] == "node"
    pod = replicated["template"]["spec"]["template"]
    assert (
        pod["metadata"]["labels"]["mlops/run-hash"] == job["metadata"]["labels"]["mlops/run-hash"]
    )
    assert pod["metadata"]["labels"]["mlops/spec-name"] == "train"
    [container] = pod["spec"]["containers"]
    assert container["name"] == "node"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_runtime_is_settable_and_defines_the_run() -> None:
    default = training_job(backend="trainjob")
    chosen = training_job(backend="trainjob", trainingRuntime="torchtune-llama3.2-1b")
    assert _render(chosen)["spec"]["runtimeRef"]["name"] == "torchtune-llama3.2-1b"
    assert run_hash(loaded(default).spec) != run_hash(loaded(chosen).spec)
    # Unset, the field is left out of the run definition: specs of other backends keep their runs.
    assert "trainingRuntime" not in loaded(default).spec.spec.model_dump(by_alias=True)


def test_minimal_trainjob_leaves_empty_fields_out() -> None:
    trainer = _render(training_job(backend="trainjob", command=[]))["spec"]["trainer"]
    assert trainer == {"image": "ghcr.io/acme/train:1.0.0", "numNodes": 1}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"backend": "pytorchjob", "trainingRuntime": "x"}, "trainjob backend only"),
        ({"backend": "trainjob", "backoffLimit": 1}, "retry policy from the training runtime"),
        ({"backend": "trainjob", "trainingRuntime": "Not_A_Name"}, "trainingRuntime"),
    ],
)
def test_trainjob_only_fields_are_refused_elsewhere(spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        loaded(training_job(**spec))
