"""Pipelines: steps in dependency order, cached steps reused, failures stop what follows."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler import labels
from tests.loop.harness import Document
from tests.waiting import wait_for


def pipeline(evaluate_args: tuple[str, ...] = (), train_args: tuple[str, ...] = ()) -> Document:
    image = "ghcr.io/acme/churn:1.0"
    return Document(
        "Pipeline",
        "churn",
        {
            "steps": [
                {"name": "prepare", "image": image, "outputs": {"data": "s3://d/{run}/"}},
                {
                    "name": "train",
                    "image": image,
                    "args": list(train_args),
                    "dependsOn": ["prepare"],
                    "outputs": {"model": "s3://m/{run}/model.bin"},
                },
                {
                    "name": "evaluate",
                    "image": image,
                    "args": list(evaluate_args),
                    "dependsOn": ["train"],
                },
            ]
        },
    )


def step_jobs(loop) -> dict[str, list[str]]:
    jobs = loop.batch.list_namespaced_job(loop.namespace, label_selector=labels.PIPELINE_STEP).items
    found: dict[str, list[str]] = {}
    for job in jobs:
        found.setdefault(job.metadata.labels[labels.PIPELINE_STEP], []).append(job.metadata.name)
    return found


def counts(loop) -> Counter:
    return Counter({step: len(names) for step, names in step_jobs(loop).items()})


def succeeded(loop, runs: dict[str, str] | None = None):
    def check():
        status = loop.status("Pipeline", "churn")
        if status is None or status["phase"] != "Succeeded":
            return None
        if runs is not None and {s["name"]: s["run"] for s in status["steps"]} == runs:
            return None
        return status

    return wait_for(check, timeout=20, what="pipeline succeeded with new runs")


def test_steps_run_in_order_and_pass_outputs_downstream(loop):
    loop.commit({"pipelines/churn.yaml": pipeline()})
    loop.start()
    status = succeeded(loop)
    assert [s["name"] for s in status["steps"]] == ["prepare", "train", "evaluate"]
    runs = {s["name"]: s["run"] for s in status["steps"]}
    job = loop.batch.read_namespaced_job(runs["evaluate"], loop.namespace)
    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
    assert env["INPUT_TRAIN_MODEL"] == f"s3://m/{runs['train']}/model.bin"
    assert env["INPUT_PREPARE_DATA"] == f"s3://d/{runs['prepare']}/"
    # Each step started only after its upstream finished.
    prepare = loop.batch.read_namespaced_job(runs["prepare"], loop.namespace)
    train = loop.batch.read_namespaced_job(runs["train"], loop.namespace)
    assert prepare.status.completion_time <= train.metadata.creation_timestamp


def test_unchanged_steps_are_reused_and_changed_ones_rerun_downstream(loop):
    loop.commit({"pipelines/churn.yaml": pipeline()})
    loop.start()
    first = {s["name"]: s["run"] for s in succeeded(loop)["steps"]}
    loop.commit({"pipelines/churn.yaml": pipeline(evaluate_args=("--strict",))})
    second = {s["name"]: s["run"] for s in succeeded(loop, first)["steps"]}
    assert second["prepare"] == first["prepare"]
    assert second["train"] == first["train"]
    assert second["evaluate"] != first["evaluate"]
    loop.commit(
        {"pipelines/churn.yaml": pipeline(evaluate_args=("--strict",), train_args=("--eta=0.2",))}
    )
    third = {s["name"]: s["run"] for s in succeeded(loop, second)["steps"]}
    assert third["prepare"] == first["prepare"]
    assert third["train"] != second["train"]
    assert third["evaluate"] != second["evaluate"]
    assert counts(loop) == Counter({"prepare": 1, "train": 2, "evaluate": 3})


@pytest.mark.sandbox_only("sets job outcomes with scenario rules")
def test_a_failed_step_stops_everything_downstream(loop):
    loop.sandbox.set_rules({"jobs": [{"match": "churn-train-*", "outcome": "Failed"}]})
    loop.commit({"pipelines/churn.yaml": pipeline()})
    loop.start()
    status = loop.wait_phase("Pipeline", "churn", "Failed", timeout=20)
    phases = {s["name"]: s["phase"] for s in status["steps"]}
    assert phases == {"prepare": "Succeeded", "train": "Failed", "evaluate": "Blocked"}
    assert "step train failed" in status["message"]
    assert "evaluate" not in step_jobs(loop)


@pytest.mark.sandbox_only("sets job durations with scenario rules")
def test_restart_in_the_middle_of_a_pipeline_resumes_without_duplicates(loop):
    loop.sandbox.set_rules({"jobs": [{"match": "churn-train-*", "duration": 1.0}]})
    loop.commit({"pipelines/churn.yaml": pipeline()})
    loop.start()
    wait_for(lambda: "train" in step_jobs(loop), timeout=20, what="train started")
    loop.stop()
    loop.start()
    succeeded(loop)
    assert counts(loop) == Counter({"prepare": 1, "train": 1, "evaluate": 1})
