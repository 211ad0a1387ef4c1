"""Simulated Deployment and Job controllers, and scenario rules."""

from __future__ import annotations

from kubernetes import client, watch

from reconciler.health import assess
from reconciler.phase import Phase
from reconciler_sandbox.core import Sandbox
from tests.sandbox.conftest import available, deployment, job
from tests.waiting import wait_for


def job_status(batch: client.BatchV1Api, namespace: str, name: str) -> client.V1JobStatus:
    return batch.read_namespaced_job(name, namespace).status or client.V1JobStatus()


def has_condition(batch: client.BatchV1Api, namespace: str, name: str, kind: str) -> bool:
    return any(c.type == kind for c in job_status(batch, namespace, name).conditions or [])


def conditions(obj: object) -> dict[str, tuple[str, str]]:
    found = obj.status.conditions or []  # type: ignore[attr-defined]
    return {c.type: (c.status, c.reason) for c in found}


def test_deployment_becomes_available_through_progressing(
    apps: client.AppsV1Api, namespace: str
) -> None:
    listed = apps.list_namespaced_deployment(namespace)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        obj = event["object"]
        if obj.status and obj.status.conditions:
            seen.append(conditions(obj)["Progressing"][1])
            if conditions(obj).get("Available", ("", ""))[0] == "True":
                stream.stop()
    assert seen == ["ReplicaSetUpdated", "NewReplicaSetAvailable"]
    done = apps.read_namespaced_deployment("web", namespace)
    status = done.status
    assert (status.observed_generation, status.replicas, status.updated_replicas) == (1, 2, 2)
    assert (status.ready_replicas, status.available_replicas) == (2, 2)
    assert conditions(done)["Available"] == ("True", "MinimumReplicasAvailable")


def test_new_generation_rolls_out_again_and_scales_to_zero(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(lambda: available(apps, namespace, "web") == 1)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 0}})

    def settled() -> bool:
        status = (
            apps.read_namespaced_deployment("web", namespace).status or client.V1DeploymentStatus()
        )
        return (
            status.observed_generation == 2
            and not status.replicas
            and not status.available_replicas
        )

    wait_for(settled, what="scaled to zero")
    assert conditions(apps.read_namespaced_deployment("web", namespace))["Available"][0] == "True"


def test_job_succeeds_with_owned_pod(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    created = batch.create_namespaced_job(namespace, job("train"))
    wait_for(lambda: job_status(batch, namespace, "train").completion_time)
    done = batch.read_namespaced_job("train", namespace)
    assert done.status.succeeded == 1 and done.status.start_time
    assert [c.type for c in done.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pod = core.list_namespaced_pod(namespace).items[0]
    ref = pod.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == (
        "Job",
        "train",
        created.metadata.uid,
        True,
    )
    labels = pod.metadata.labels
    assert (
        labels["batch.kubernetes.io/controller-uid"]
        == labels["controller-uid"]
        == created.metadata.uid
    )
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "train"
    assert pod.status.phase == "Succeeded"
    assert pod.metadata.name.startswith("train-")


def test_job_failure_with_message_and_backoff(
    sandbox: Sandbox, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.set_rules(
        {
            "jobs": [
                {
                    "match": "bad-*",
                    "namespace": namespace,
                    "outcome": "Failed",
                    "duration": 0.01,
                    "message": '{"loss": 9.9}',
                }
            ]
        }
    )
    try:
        batch.create_namespaced_job(namespace, job("bad-run", backoffLimit=1))
        wait_for(lambda: has_condition(batch, namespace, "bad-run", "Failed"))
        failed = batch.read_namespaced_job("bad-run", namespace)
    finally:
        sandbox.set_rules({})
    assert [(c.type, c.reason) for c in failed.status.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert failed.status.failed == 2 and not failed.status.succeeded
    pods = core.list_namespaced_pod(namespace).items
    assert len(pods) == 2
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert terminated.message == '{"loss": 9.9}' and terminated.exit_code == 1


def test_job_message_on_success(
    sandbox: Sandbox, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.set_rules(
        {"jobs": [{"match": "*", "namespace": namespace, "message": '{"accuracy": 0.93}'}]}
    )
    try:
        batch.create_namespaced_job(namespace, job("train"))
        wait_for(lambda: job_status(batch, namespace, "train").succeeded == 1)
    finally:
        sandbox.set_rules({})
    pod = core.list_namespaced_pod(namespace).items[0]
    assert pod.status.container_statuses[0].state.terminated.message == '{"accuracy": 0.93}'


def test_job_deadline_exceeded(
    sandbox: Sandbox, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.set_rules({"jobs": [{"match": "slow", "namespace": namespace, "duration": 60}]})
    try:
        batch.create_namespaced_job(namespace, job("slow", activeDeadlineSeconds=1))
        wait_for(lambda: has_condition(batch, namespace, "slow", "Failed"), timeout=5)
        failed = batch.read_namespaced_job("slow", namespace)
    finally:
        sandbox.set_rules({})
    assert [c.reason for c in failed.status.conditions] == ["DeadlineExceeded", "DeadlineExceeded"]
    assert core.list_namespaced_pod(namespace).items == []


def test_autoscaler_reports_it_can_scale_within_its_bounds(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=5))
    scaling = client.AutoscalingV2Api(apps.api_client)
    scaling.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 3,
            },
        },
    )

    def reported() -> dict | None:
        obj = apps.api_client.sanitize_for_serialization(
            scaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
        )
        return obj if (obj.get("status") or {}).get("conditions") else None

    obj = wait_for(reported, what="the autoscaler's first status")
    assert (obj["status"]["currentReplicas"], obj["status"]["desiredReplicas"]) == (5, 3)
    kinds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert kinds == {"AbleToScale": "True", "ScalingActive": "True", "ScalingLimited": "False"}
    assert assess(obj).phase is Phase.READY
