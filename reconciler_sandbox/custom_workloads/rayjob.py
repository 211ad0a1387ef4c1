"""Simulated KubeRay operator for ray.io/v1 RayJobs.

A new RayJob is ``Initializing`` (its ``jobId``, ``rayClusterName`` and ``startTime`` chosen) for
the deployment delay, the time its Ray cluster takes to come up; no RayCluster object is
created. Then, as KubeRay does in its default K8sJobMode, a submitter batch/v1 Job named after
the RayJob and owned by it runs ``ray job submit`` with the entrypoint, and the RayJob is
``Running`` with ``jobStatus`` ``PENDING``, ``RUNNING`` while the submitter pod runs, then
``SUCCEEDED``/``Complete`` or ``FAILED``/``Failed`` (reason ``AppFailed``) with ``endTime``.

The sandbox's Job controller runs the submitter, so the scenario job rule matching the RayJob's
name decides how long it runs, how it ends and its termination message. Unlike KubeRay's, the
submitter pod carries the head template's labels (``mlops/run-hash``, ``mlops/spec-name``): in
a cluster the entrypoint's metrics come from the Ray job, here from that pod, so runs read them
the same way as from any other training pod. Past ``activeDeadlineSeconds`` the RayJob fails
with reason ``DeadlineExceeded``; ``backoffLimit`` retries are not simulated.
"""

from __future__ import annotations

import random
import string
from typing import Any

from reconciler_sandbox.controllers import Context, Controller
from reconciler_sandbox.custom_workloads import common
from reconciler_sandbox.rest import now
from reconciler_sandbox.store import Event

Obj = dict[str, Any]
API_VERSION = "ray.io/v1"
RESOURCE = "rayjobs"
OPERATOR = "kuberay-operator"
SUBMITTER = "ray-job-submitter"
DASHBOARD_PORT = 8265
# Ray's own job status messages.
MESSAGES = {
    "PENDING": "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, "
    "custom resources) to become available. It may be waiting for the runtime environment to "
    "be set up.",
    "RUNNING": "Job is currently running.",
    "SUCCEEDED": "Job finished successfully.",
    "FAILED": "Job entrypoint command failed with exit code 1",
}


class RayJobController(Controller):
    resources = (("ray.io", RESOURCE), ("batch", "jobs"))

    def handle(self, event: Event, ctx: Context) -> None:
        if event.key == ("batch", "jobs"):
            name = common.controller_of(event.obj, "RayJob")
            if name is not None:
                ray_job = ctx.get(API_VERSION, RESOURCE, event.obj["metadata"]["namespace"], name)
                if ray_job is not None:
                    self.sync(ctx, ray_job)
        elif event.type != "DELETED":
            self.sync(ctx, event.obj)

    def sync(self, ctx: Context, seen: Obj) -> None:
        ray_job = common.current(ctx, API_VERSION, RESOURCE, seen)
        if ray_job is None:
            return
        status = dict(ray_job.get("status") or {})
        deployment = status.get("jobDeploymentStatus")
        if not deployment:
            self._initialize(ctx, ray_job)
        elif deployment == "Running":
            submitter = ctx.get(
                "batch/v1", "jobs", ray_job["metadata"]["namespace"], ray_job["metadata"]["name"]
            )
            if submitter is not None:
                status.update(_progress(submitter))
                if status != ray_job["status"]:
                    ctx.write_status(ray_job, status, OPERATOR)

    def _initialize(self, ctx: Context, ray_job: Obj) -> None:
        name = ray_job["metadata"]["name"]
        status = {
            "jobDeploymentStatus": "Initializing",
            "jobId": f"{name}-{_suffix()}",
            "rayClusterName": f"{name}-raycluster-{_suffix()}",
            "startTime": now(),
            "observedGeneration": ray_job["metadata"].get("generation", 1),
        }
        if ctx.write_status(ray_job, status, OPERATOR) is None:
            return
        ctx.schedule(ctx.deployment_delay, lambda: self._cluster_ready(ctx, ray_job))
        deadline = ray_job["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            ctx.schedule(
                float(deadline), lambda: self._deadline(ctx, ray_job, status["startTime"], deadline)
            )

    def _cluster_ready(self, ctx: Context, seen: Obj) -> None:
        ray_job = common.current(ctx, API_VERSION, RESOURCE, seen)
        if ray_job is None or ray_job["status"].get("jobDeploymentStatus") != "Initializing":
            return
        status = dict(ray_job["status"])
        status["dashboardURL"] = f"{_head_service(ray_job)}:{DASHBOARD_PORT}"
        workers = sum(g.get("replicas", 0) for g in _cluster(ray_job).get("workerGroupSpecs") or [])
        status["rayClusterStatus"] = {
            "state": "ready",
            "desiredWorkerReplicas": workers,
            "availableWorkerReplicas": workers,
            "readyWorkerReplicas": workers,
        }
        status.update(
            jobDeploymentStatus="Running", jobStatus="PENDING", message=MESSAGES["PENDING"]
        )
        if ctx.write_status(ray_job, status, OPERATOR) is None:
            ctx.schedule(0.01, lambda: self._cluster_ready(ctx, ray_job))
            return
        ctx.create("batch/v1", "jobs", _submitter(ray_job, status), OPERATOR)

    def _deadline(self, ctx: Context, seen: Obj, started: str, seconds: int) -> None:
        ray_job = common.current(ctx, API_VERSION, RESOURCE, seen)
        if ray_job is None or ray_job["status"].get("jobDeploymentStatus") in (
            "Complete",
            "Failed",
        ):
            return
        status = dict(ray_job["status"])
        status.update(
            jobDeploymentStatus="Failed",
            reason="DeadlineExceeded",
            message=f"The RayJob has passed the activeDeadlineSeconds. StartTime: {started}. "
            f"ActiveDeadlineSeconds: {seconds}",
            endTime=now(),
        )
        if ctx.write_status(ray_job, status, OPERATOR) is None:
            ctx.schedule(0.01, lambda: self._deadline(ctx, ray_job, started, seconds))


def _progress(submitter: Obj) -> Obj:
    """The RayJob status fields that follow from its submitter Job."""
    job_status = submitter.get("status") or {}
    finished = {
        c["type"]
        for c in job_status.get("conditions") or []
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
    }
    if "Complete" in finished:
        return {
            "jobStatus": "SUCCEEDED",
            "jobDeploymentStatus": "Complete",
            "succeeded": 1,
            "endTime": now(),
            "message": MESSAGES["SUCCEEDED"],
        }
    if "Failed" in finished:
        return {
            "jobStatus": "FAILED",
            "jobDeploymentStatus": "Failed",
            "reason": "AppFailed",
            "failed": 1,
            "endTime": now(),
            "message": MESSAGES["FAILED"],
        }
    if job_status.get("active"):
        return {"jobStatus": "RUNNING", "message": MESSAGES["RUNNING"]}
    return {}


def _cluster(ray_job: Obj) -> Obj:
    return ray_job["spec"].get("rayClusterSpec") or {}


def _head_service(ray_job: Obj) -> str:
    return f"{ray_job['status']['rayClusterName']}-head-svc.{ray_job['metadata']['namespace']}.svc.cluster.local"


def _submitter(ray_job: Obj, status: Obj) -> Obj:
    meta = ray_job["metadata"]
    head = (_cluster(ray_job).get("headGroupSpec") or {}).get("template") or {}
    head_containers = (head.get("spec") or {}).get("containers") or [{}]
    command = (
        f"ray job submit --address http://{status['dashboardURL']} "
        f"--submission-id {status['jobId']} -- {ray_job['spec'].get('entrypoint', '')}"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {
                "ray.io/originated-from-crd": "RayJob",
                "ray.io/originated-from-cr-name": meta["name"],
                "app.kubernetes.io/created-by": OPERATOR,
            },
            "ownerReferences": [common.owner_reference(ray_job)],
        },
        "spec": {
            # Ray refuses a second submission with the same id, so a retried submitter only
            # fails again: one attempt.
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": dict((head.get("metadata") or {}).get("labels") or {})},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": SUBMITTER,
                            "image": head_containers[0].get("image", "rayproject/ray"),
                            "command": ["/bin/bash", "-ce", "--"],
                            "args": [command],
                        }
                    ],
                },
            },
        },
    }


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
