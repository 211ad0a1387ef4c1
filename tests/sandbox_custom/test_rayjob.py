"""Simulated KubeRay: RayJob deployment and job statuses, submitter pod metrics, deadlines."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from reconciler.health import assess
from reconciler.lifecycle import runs_from
from reconciler.phase import Phase
from tests.sandbox_custom.conftest import Objects, rendered, training_job
from tests.waiting import wait_for

METRICS = '{"accuracy": 0.91}'


def pods_of(core: client.CoreV1Api, namespace: str, job: str) -> list[dict[str, Any]]:
    listed = core.list_namespaced_pod(
        namespace, label_selector=f"batch.kubernetes.io/job-name={job}"
    )
    return [core.api_client.sanitize_for_serialization(p) for p in listed.items]


def test_rayjob_completes_and_its_submitter_pod_reports_metrics(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, rules: Any
) -> None:
    rules(
        {"jobs": [{"match": "tune-*", "namespace": namespace, "duration": 0.1, "message": METRICS}]}
    )
    jobs = Objects(custom, namespace, "RayJob")
    body = rendered(training_job("tune", backend="rayjob", workers=2), namespace)
    name = body["metadata"]["name"]
    since = jobs.resource_version()
    jobs.create(body)
    history = jobs.history(name, since, lambda o: assess(o).phase is Phase.SUCCEEDED)
    statuses = [
        (o["status"].get("jobDeploymentStatus"), o["status"].get("jobStatus"))
        for o in history
        if o.get("status")
    ]
    assert statuses == [
        ("Initializing", None),
        ("Running", "PENDING"),
        ("Running", "RUNNING"),
        ("Complete", "SUCCEEDED"),
    ]
    status = history[-1]["status"]
    assert status["jobId"].startswith(f"{name}-")
    assert status["rayClusterName"].startswith(f"{name}-raycluster-")
    assert status["startTime"] and status["endTime"]
    assert status["message"] == "Job finished successfully."
    assert status["rayClusterStatus"]["desiredWorkerReplicas"] == 1

    (pod,) = pods_of(core, namespace, name)
    assert (
        pod["metadata"]["labels"]["mlops/run-hash"] == body["metadata"]["labels"]["mlops/run-hash"]
    )
    (run,) = runs_from([history[-1]], [pod])
    assert run.phase == "Succeeded" and run.metrics == {"accuracy": 0.91}

    jobs.delete(name)
    wait_for(
        lambda: not pods_of(core, namespace, name), what="submitter Job and pod garbage-collected"
    )


def test_rayjob_fails_when_the_entrypoint_fails(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules({"jobs": [{"match": "tune-*", "namespace": namespace, "outcome": "Failed"}]})
    jobs = Objects(custom, namespace, "RayJob")
    body = rendered(training_job("tune", backend="rayjob"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o, what="Failed"
    )
    assert (failed["status"]["jobStatus"], failed["status"]["jobDeploymentStatus"]) == (
        "FAILED",
        "Failed",
    )
    assert assess(failed).reason == "AppFailed"


def test_rayjob_past_its_deadline_fails(
    custom: client.CustomObjectsApi, namespace: str, rules: Any
) -> None:
    rules({"jobs": [{"match": "tune-*", "namespace": namespace, "duration": 30}]})
    jobs = Objects(custom, namespace, "RayJob")
    body = rendered(training_job("tune", backend="rayjob", timeout="1s"), namespace)
    jobs.create(body)
    name = body["metadata"]["name"]
    failed = wait_for(
        lambda: (o := jobs.get(name)) and assess(o).phase is Phase.FAILED and o,
        timeout=5,
        what="Failed",
    )
    assert assess(failed).reason == "DeadlineExceeded"
    assert failed["status"]["jobStatus"] == "RUNNING"
