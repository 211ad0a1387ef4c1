"""Simulated Kubeflow Trainer v2: TrainJob node pods, conditions, metrics and deadlines."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from reconciler.health import assess
from reconciler.lifecycle import runs_from
from reconciler.phase import Phase
from tests.sandbox_custom.conftest import Objects, rendered, training_job
from tests.waiting import wait_for

METRICS = '{"accuracy": 0.91, "loss": 0.3}'


def pods_of(core: client.CoreV1Api, namespace: str, job: str) -> list[dict[str, Any]]:
    listed = core.list_namespaced_pod(
        namespace, label_selector=f"jobset.sigs.k8s.io/jobset-name={job}"
    )
    return [core.api_client.sanitize_for_serialization(p) for p in listed.items]


def test_trainjob_completes_with_rank0_metrics(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules(
        {
            "jobs": [
                {"match": "train-*", "namespace": namespace, "duration": 0.1, "message": METRICS}
            ]
        }
    )
    jobs = Objects(custom, namespace, "TrainJob")
    spec = training_job("train", backend="trainjob", workers=3, resources={"cpu": "2", "gpu": 1})
    body = rendered(spec, namespace)
    name = body["metadata"]["name"]
    since = jobs.resource_version()
    created = jobs.create(body)
    history = jobs.history(name, since, lambda o: assess(o).phase is Phase.SUCCEEDED)
    assert "Running" in [assess(o).reason for o in history]
    done = history[-1]
    status = done["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Complete", "True", "AllJobsCompleted")
    ]
    assert status["jobsStatus"] == [
        {"name": "node", "ready": 0, "succeeded": 1, "failed": 0, "active": 0, "suspended": 0}
    ]

    pods = pods_of(core, namespace, name)
    assert sorted(p["metadata"]["name"] for p in pods) == [f"{name}-node-0-{i}" for i in range(3)]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["mlops/run-hash"] == body["metadata"]["labels"]["mlops/run-hash"]
        assert labels["mlops/spec-name"] == "train"
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "node"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("TrainJob", created["metadata"]["uid"])
    messages = {
        p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]: p["status"][
            "containerStatuses"
        ][0]["state"]["terminated"].get("message")
        for p in pods
    }
    assert messages == {"0": METRICS, "1": None, "2": None}

    (run,) = runs_from([done], pods)
    assert run.phase == "Succeeded"
    assert run.metrics == {"accuracy": 0.91, "loss": 0.3}
    assert run.output_uri == f"s3://models/{name}/"

    jobs.delete(name)
    wait_for(lambda: not pods_of(core, namespace, name), what="pods garbage-collected")


def test_trainjob_fails_when_a_node_fails(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules(
        {
            "jobs": [
                {
                    "match": "train-*",
                    "namespace": namespace,
                    "outcome": "Failed",
                    "duration": 0.05,
                    "message": '{"loss": 9.9}',
                }
            ]
        }
    )
    jobs = Objects(custom, namespace, "TrainJob")
    body = rendered(training_job("train", backend="trainjob"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o, what="Failed"
    )
    health = assess(failed)
    assert (health.reason, health.message) == (
        "FailedJobs",
        "jobset failed due to one or more job failures",
    )
    assert failed["status"]["jobsStatus"][0]["failed"] == 1
    (run,) = runs_from([failed], pods_of(core, namespace, name))
    assert run.phase == "Failed" and run.metrics == {"loss": 9.9}


def test_trainjob_past_its_deadline_fails_and_loses_its_pods(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules({"jobs": [{"match": "train-*", "namespace": namespace, "duration": 30}]})
    jobs = Objects(custom, namespace, "TrainJob")
    body = rendered(training_job("train", backend="trainjob", timeout="1s"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o,
        timeout=5,
        what="Failed",
    )
    assert (assess(failed).reason, assess(failed).message) == (
        "DeadlineExceeded",
        "TrainJob exceeded its active deadline",
    )
    wait_for(lambda: not pods_of(core, namespace, name), what="pods deleted")
