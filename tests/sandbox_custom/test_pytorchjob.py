"""Simulated training operator: PyTorchJob pods, conditions, metrics and garbage collection."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from reconciler.health import assess
from reconciler.lifecycle import runs_from
from reconciler.phase import Phase
from tests.sandbox_custom.conftest import Objects, rendered, training_job
from tests.waiting import wait_for

METRICS = '{"accuracy": 0.93, "loss": 0.21}'


def pods_of(core: client.CoreV1Api, namespace: str, job: str) -> list[dict[str, Any]]:
    listed = core.list_namespaced_pod(
        namespace, label_selector=f"training.kubeflow.org/job-name={job}"
    )
    return [core.api_client.sanitize_for_serialization(p) for p in listed.items]


def test_pytorchjob_succeeds_with_master_metrics(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules(
        {
            "jobs": [
                {"match": "train-*", "namespace": namespace, "duration": 0.1, "message": METRICS}
            ]
        }
    )
    jobs = Objects(custom, namespace, "PyTorchJob")
    body = rendered(training_job("train", backend="pytorchjob", workers=3), namespace)
    name = body["metadata"]["name"]
    since = jobs.resource_version()
    created = jobs.create(body)
    history = jobs.history(name, since, lambda o: assess(o).phase is Phase.SUCCEEDED)
    assert [assess(o).reason for o in history if o.get("status")][:1] == ["PyTorchJobCreated"]
    assert "PyTorchJobRunning" in [assess(o).reason for o in history]
    done = history[-1]
    status = done["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Created", "True", "PyTorchJobCreated"),
        ("Running", "False", "PyTorchJobRunning"),
        ("Succeeded", "True", "PyTorchJobSucceeded"),
    ]
    assert status["replicaStatuses"]["Master"]["succeeded"] == 1
    assert status["replicaStatuses"]["Worker"]["succeeded"] == 2
    assert status["startTime"] and status["completionTime"]

    pods = pods_of(core, namespace, name)
    assert sorted(p["metadata"]["name"] for p in pods) == [
        f"{name}-master-0",
        f"{name}-worker-0",
        f"{name}-worker-1",
    ]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["mlops/run-hash"] == body["metadata"]["labels"]["mlops/run-hash"]
        assert labels["mlops/spec-name"] == "train"
        assert labels["training.kubeflow.org/replica-type"] in ("master", "worker")
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "PyTorchJob",
            created["metadata"]["uid"],
            True,
        )
    master = next(
        p for p in pods if p["metadata"]["labels"]["training.kubeflow.org/replica-type"] == "master"
    )
    assert master["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == METRICS

    (run,) = runs_from([done], pods)
    assert run.phase == "Succeeded"
    assert run.metrics == {"accuracy": 0.93, "loss": 0.21}
    assert run.output_uri == f"s3://models/{name}/"

    jobs.delete(name)
    wait_for(lambda: not pods_of(core, namespace, name), what="pods garbage-collected")


def test_pytorchjob_fails_when_the_rule_says_so(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules(
        {
            "jobs": [
                {
                    "match": "train-*",
                    "namespace": namespace,
                    "outcome": "Failed",
                    "message": '{"loss": 9.9}',
                }
            ]
        }
    )
    jobs = Objects(custom, namespace, "PyTorchJob")
    body = rendered(training_job("train", backend="pytorchjob"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o, what="Failed"
    )
    health = assess(failed)
    assert health.reason == "PyTorchJobFailed"
    assert (
        health.message
        == f"PyTorchJob {namespace}/{name} has failed because 1 Master replica(s) failed."
    )
    assert "Worker" not in failed["status"]["replicaStatuses"]
    (run,) = runs_from([failed], pods_of(core, namespace, name))
    assert run.phase == "Failed" and run.metrics == {"loss": 9.9}


def test_pytorchjob_past_its_deadline_fails(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules({"jobs": [{"match": "train-*", "namespace": namespace, "duration": 30}]})
    jobs = Objects(custom, namespace, "PyTorchJob")
    body = rendered(training_job("train", backend="pytorchjob", timeout="1s"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o,
        timeout=5,
        what="Failed",
    )
    assert (
        assess(failed).message
        == f"Job {name} has failed because it was active longer than specified deadline"
    )
