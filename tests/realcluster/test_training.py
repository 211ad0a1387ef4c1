"""Training metrics and promotion gates on the real control plane: the metrics come from a
container termination message the kwok Stages write from the spec's env, through the real Job
controller, instead of the sandbox's scenario rules."""

from __future__ import annotations

import json

from tests.loop.harness import Document, training

OUTPUT = "s3://ml-models/fraud/{run}/model.joblib"


def train(**env: str) -> Document:
    return training("train-fraud", output={"uri": OUTPUT}, env=env)


def serve(gate: float) -> Document:
    spec = {
        "model": {"fromTraining": {"name": "train-fraud"}},
        "image": "ghcr.io/acme/server:1.0",
        "replicas": 1,
        "promotion": {"metrics": {"accuracy": gate}},
    }
    return Document("ModelDeployment", "fraud-detector", spec)


def test_a_run_meeting_the_gate_is_promoted_and_rolled_out(loop):
    message = json.dumps({"accuracy": 0.94})
    loop.commit(
        {"training/t.yaml": train(KWOK_TERMINATION_MESSAGE=message), "models/m.yaml": serve(0.9)}
    )
    loop.start()
    status = loop.wait_phase("ModelDeployment", "fraud-detector", "Ready", timeout=60)
    run = loop.status("TrainingJob", "train-fraud")["currentRun"]
    assert status["model"]["run"] == run
    assert status["model"]["metrics"] == {"accuracy": 0.94}
    deployment = loop.apps.read_namespaced_deployment("fraud-detector", loop.namespace)
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["MODEL_URI"] == f"s3://ml-models/fraud/{run}/model.joblib"


def test_a_run_below_the_gate_waits_and_says_why(loop):
    message = json.dumps({"accuracy": 0.87})
    loop.commit(
        {"training/t.yaml": train(KWOK_TERMINATION_MESSAGE=message), "models/m.yaml": serve(0.9)}
    )
    loop.start()
    trained = loop.wait_phase("TrainingJob", "train-fraud", "Succeeded", timeout=60)
    assert trained["runs"][0]["metrics"] == {"accuracy": 0.87}
    status = loop.wait_phase("ModelDeployment", "fraud-detector", "Pending", timeout=30)
    assert "accuracy 0.87 < 0.9" in status["message"]


def test_a_failing_run_fails_the_training_job(loop):
    loop.commit({"training/t.yaml": train(KWOK_EXIT_CODE="1")})
    loop.start()
    status = loop.wait_phase("TrainingJob", "train-fraud", "Failed", timeout=60)
    assert status["runs"][0]["phase"] == "Failed"
