"""Health of the training custom resources: PyTorchJob, RayJob, Kubeflow Trainer v2 TrainJob."""

from __future__ import annotations

from typing import Any

from reconciler.health._read import (
    Health,
    as_int,
    as_str,
    conditions_of,
    from_condition,
    is_true,
    mapping,
    spec_of,
    status_of,
)
from reconciler.phase import Phase


def pytorch_job_health(obj: dict[str, Any]) -> Health:
    # The training operator keeps every condition it ever set; terminal ones are checked first.
    conditions = conditions_of(status_of(obj))
    rules = (
        ("Succeeded", Phase.SUCCEEDED, "training finished"),
        ("Failed", Phase.FAILED, "training failed"),
        ("Suspended", Phase.PENDING, "job is suspended"),
        ("Restarting", Phase.PROGRESSING, "workers are restarting"),
        ("Running", Phase.PROGRESSING, "training is running"),
        ("Created", Phase.PENDING, "waiting for workers to start"),
    )
    for kind, phase, message in rules:
        if is_true(conditions.get(kind)):
            return from_condition(phase, conditions[kind], kind, message)
    return Health(Phase.PENDING, "NotStarted", "no condition yet")


_RAY_JOB_STATUS = {
    "SUCCEEDED": (Phase.SUCCEEDED, "Succeeded", "job succeeded"),
    "FAILED": (Phase.FAILED, "Failed", "job failed"),
    "STOPPED": (Phase.FAILED, "Stopped", "job was stopped"),
}
_RAY_DEPLOYMENT_STATUS = {
    "Failed": (Phase.FAILED, "Failed", "ray job failed"),
    "ValidationFailed": (Phase.FAILED, "ValidationFailed", "ray job spec is invalid"),
    "Initializing": (Phase.PENDING, "Initializing", "ray cluster is starting"),
    "Waiting": (Phase.PENDING, "Waiting", "waiting to be submitted"),
    "Suspended": (Phase.PENDING, "Suspended", "job is suspended"),
    "Suspending": (Phase.PENDING, "Suspending", "job is being suspended"),
    "Retrying": (Phase.PROGRESSING, "Retrying", "retrying the job"),
}


def ray_job_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    job_status = status.get("jobStatus")
    deployment_status = status.get("jobDeploymentStatus")
    detail = as_str(status.get("message"))
    # jobStatus is the Ray job itself; once terminal it outranks the cluster's lifecycle, which
    # may still be tearing down.
    if job_status in _RAY_JOB_STATUS:
        phase, reason, message = _RAY_JOB_STATUS[job_status]
        return Health(phase, as_str(status.get("reason")) or reason, detail or message)
    if deployment_status in _RAY_DEPLOYMENT_STATUS:
        phase, reason, message = _RAY_DEPLOYMENT_STATUS[deployment_status]
        return Health(phase, as_str(status.get("reason")) or reason, detail or message)
    if job_status == "RUNNING":
        return Health(Phase.PROGRESSING, "Running", detail or "job is running")
    if deployment_status == "Complete":
        return Health(Phase.PROGRESSING, "Completing", "waiting for the final job status")
    if job_status == "PENDING" or deployment_status == "Running":
        return Health(Phase.PENDING, "JobPending", detail or "job submitted, not running yet")
    return Health(Phase.PENDING, "NotStarted", "no status yet")


def train_job_health(obj: dict[str, Any]) -> Health:
    # Kubeflow Trainer v2: Complete, Failed and Suspended are its only conditions.
    status = status_of(obj)
    conditions = conditions_of(status)
    rules = (
        ("Complete", Phase.SUCCEEDED, "training finished"),
        ("Failed", Phase.FAILED, "training failed"),
        ("Suspended", Phase.PENDING, "job is suspended"),
    )
    for kind, phase, message in rules:
        if is_true(conditions.get(kind)):
            return from_condition(phase, conditions[kind], kind, message)
    if spec_of(obj).get("suspend") is True:
        return Health(Phase.PENDING, "Suspended", "job is suspended")
    jobs = status.get("jobsStatus")
    active = (
        sum(as_int(mapping(job).get("active")) for job in jobs) if isinstance(jobs, list) else 0
    )
    if active > 0:
        return Health(Phase.PROGRESSING, "Running", f"{active} jobs running")
    return Health(Phase.PENDING, "NotStarted", "no job started yet")
