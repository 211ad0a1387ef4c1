"""Create-once training runs, history, metrics and gated promotion, end to end."""

from __future__ import annotations

import pytest
import yaml

from reconciler import labels
from tests.loop.harness import Document, training
from tests.waiting import wait_for

OUTPUT = "s3://ml-models/fraud/{run}/model.joblib"


def train(lr: float = 0.1, history: int = 3) -> Document:
    return training(
        "train-fraud",
        hyperparameters={"lr": lr},
        output={"uri": OUTPUT},
        historyLimit=history,
    )


def serve(gate: float = 0.9) -> Document:
    return Document(
        "ModelDeployment",
        "fraud-detector",
        {
            "model": {"fromTraining": {"name": "train-fraud"}},
            "image": "ghcr.io/acme/server:1.0",
            "replicas": 1,
            "promotion": {"metrics": {"accuracy": gate}},
        },
    )


def runs(loop) -> list[str]:
    jobs = loop.batch.list_namespaced_job(loop.namespace, label_selector=labels.RUN_HASH).items
    return sorted(job.metadata.name for job in jobs)


def served_uri(loop) -> str:
    deployment = loop.apps.read_namespaced_deployment("fraud-detector", loop.namespace)
    env = deployment.spec.template.spec.containers[0].env
    return next(item.value for item in env if item.name == "MODEL_URI")


def metrics_rule(accuracy: float, match: str = "train-fraud-*") -> dict:
    return {"jobs": [{"match": match, "message": f'{{"accuracy": {accuracy}}}'}]}


def test_unrelated_commits_never_start_another_run(loop):
    loop.commit({"training/t.yaml": train()})
    loop.start()
    loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    for i in range(5):
        head = loop.commit({f"docs/note-{i}.md": f"note {i}\n"}, f"docs {i}")
    loop.reconciled(head)
    loop.idle()
    assert len(runs(loop)) == 1


def test_new_hyperparameters_start_a_new_run_and_keep_the_old(loop):
    loop.commit({"training/t.yaml": train(lr=0.1)})
    loop.start()
    first = loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")["currentRun"]
    loop.commit({"training/t.yaml": train(lr=0.05)})
    wait_for(lambda: len(runs(loop)) == 2, what="a second run")
    status = wait_for(
        lambda: (
            (s := loop.status("TrainingJob", "train-fraud"))
            and s["currentRun"] != first
            and s["phase"] == "Succeeded"
            and s
        ),
        what="second run succeeded",
    )
    assert first in runs(loop)
    assert [run["name"] for run in status["runs"]][1] == first


def test_history_limit_prunes_the_oldest_finished_runs(loop):
    loop.commit({"training/t.yaml": train(lr=0.1, history=1)})
    loop.start()
    loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    seen = set(runs(loop))
    for lr in (0.2, 0.3):
        loop.commit({"training/t.yaml": train(lr=lr, history=1)})
        wait_for(lambda seen=seen: set(runs(loop)) - seen, what="a new run")
        seen |= set(runs(loop))
        loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    wait_for(lambda: len(runs(loop)) == 1, what="older runs pruned to the history limit")


@pytest.mark.sandbox_only("sets metrics with scenario rules")
def test_gate_met_promotes_and_rolls_out(loop):
    loop.sandbox.set_rules(metrics_rule(0.94))
    loop.commit({"training/t.yaml": train(), "models/m.yaml": serve(0.9)})
    loop.start()
    status = loop.wait_phase("ModelDeployment", "fraud-detector", "Ready")
    run = loop.status("TrainingJob", "train-fraud")["currentRun"]
    assert status["model"]["run"] == run
    assert status["model"]["uri"] == f"s3://ml-models/fraud/{run}/model.joblib"
    assert status["model"]["metrics"] == {"accuracy": 0.94}
    assert served_uri(loop) == status["model"]["uri"]


@pytest.mark.sandbox_only("sets metrics with scenario rules")
def test_gate_not_met_waits_and_says_why_in_both_statuses(loop):
    loop.sandbox.set_rules(metrics_rule(0.87))
    loop.commit({"training/t.yaml": train(), "models/m.yaml": serve(0.9)})
    loop.start()
    trained = loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    status = wait_for(
        lambda: (
            (s := loop.status("ModelDeployment", "fraud-detector"))
            and "accuracy 0.87 < 0.9" in s["message"]
            and s
        ),
        what="the gate's verdict in the serving status",
    )
    assert status["phase"] == "Pending"
    expected = {"fraud-detector": "gate not met: accuracy 0.87 < 0.9"}
    wait_for(
        lambda: loop.status("TrainingJob", "train-fraud")["runs"][0].get("notPromoted") == expected,
        what="the gate reported on the run",
    )
    assert trained["runs"][0]["name"] == loop.status("TrainingJob", "train-fraud")["currentRun"]
    assert loop.status("TrainingJob", "train-fraud")["runs"][0]["metrics"] == {"accuracy": 0.87}


@pytest.mark.sandbox_only("sets outcomes with scenario rules")
def test_a_newer_run_failing_or_below_the_gate_keeps_the_old_model(loop):
    loop.sandbox.set_rules(metrics_rule(0.95))
    loop.commit({"training/t.yaml": train(lr=0.1), "models/m.yaml": serve(0.9)})
    loop.start()
    good = loop.wait_phase("ModelDeployment", "fraud-detector", "Ready")["model"]["uri"]
    loop.sandbox.set_rules({"jobs": [{"match": "train-fraud-*", "outcome": "Failed"}]})
    loop.commit({"training/t.yaml": train(lr=0.2)})
    loop.wait_phase("TrainingJob", "train-fraud", "Failed")
    loop.sandbox.set_rules(metrics_rule(0.5))
    loop.commit({"training/t.yaml": train(lr=0.3)})
    loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    status = wait_for(
        lambda: (
            (s := loop.status("ModelDeployment", "fraud-detector"))
            and len(s["model"].get("notPromoted", [])) == 2
            and s["model"]["notPromoted"][0]["reason"].startswith("gate not met")
            and s
        ),
        what="both newer runs reported as not promoted",
    )
    assert status["model"]["uri"] == good
    assert served_uri(loop) == good
    reasons = [entry["reason"] for entry in status["model"]["notPromoted"]]
    assert reasons[0] == "gate not met: accuracy 0.5 < 0.9"
    assert reasons[1].startswith("run failed")


@pytest.mark.sandbox_only("sets the message with scenario rules")
def test_garbage_termination_message_is_a_note_not_a_crash(loop):
    loop.sandbox.set_rules({"jobs": [{"match": "train-fraud-*", "message": "\u0000{{not json"}]})
    loop.commit({"training/t.yaml": train(), "models/m.yaml": serve(0.9)})
    loop.start()
    loop.wait_phase("TrainingJob", "train-fraud", "Succeeded")
    note = "termination message is not JSON; expected an object of numbers"
    status = wait_for(
        lambda: (
            (s := loop.status("TrainingJob", "train-fraud"))
            and s["runs"][0].get("metricsNote") == note
            and s
        ),
        what="the note on the run",
    )
    assert "metrics" not in status["runs"][0]
    serving = loop.wait_phase("ModelDeployment", "fraud-detector", "Pending")
    assert "accuracy missing" in serving["message"]
    assert yaml.safe_load(loop.status_files()["repository.yaml"])["sourcePhase"] == "Ready"


@pytest.mark.sandbox_only("sets metrics with scenario rules")
def test_a_run_no_longer_served_is_released_to_history_pruning(loop):
    loop.sandbox.set_rules(metrics_rule(0.95))
    loop.commit({"training/t.yaml": train(lr=0.1, history=1), "models/m.yaml": serve(0.9)})
    loop.start()
    for lr in (0.2, 0.3):
        served = loop.wait_phase("ModelDeployment", "fraud-detector", "Ready")["model"]["run"]
        loop.commit({"training/t.yaml": train(lr=lr, history=1)})
        wait_for(
            lambda served=served: (
                loop.status("ModelDeployment", "fraud-detector")["model"]["run"] != served
            ),
            # A run to train, a gate, a rollout and its status commit: several reconciles.
            timeout=30,
            what="serving moved to the new run",
        )
    current = loop.status("ModelDeployment", "fraud-detector")["model"]["run"]
    wait_for(lambda: runs(loop) == [current], what="runs no longer served pruned")
