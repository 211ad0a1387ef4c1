"""Health of the built-in kinds: Deployment, Job, Service, HorizontalPodAutoscaler, Pod."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from reconciler.health._read import (
    Health,
    as_int,
    as_str,
    conditions_of,
    from_condition,
    is_false,
    is_true,
    mapping,
    restart_policy,
    spec_of,
    status_of,
)
from reconciler.phase import Phase


def deployment_health(obj: dict[str, Any]) -> Health:
    # The checks and their order are kubectl rollout status's.
    spec, status = spec_of(obj), status_of(obj)
    generation = as_int(mapping(obj.get("metadata")).get("generation"))
    if as_int(status.get("observedGeneration")) < generation:
        return Health(Phase.PROGRESSING, "RolloutNotObserved", "waiting for rollout to be observed")
    if spec.get("paused") is True:
        return Health(Phase.DEGRADED, "Paused", "rollout is paused")
    progressing = conditions_of(status).get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return from_condition(
            Phase.FAILED,
            progressing,
            "ProgressDeadlineExceeded",
            "rollout exceeded its progress deadline",
        )
    if is_false(progressing):
        # Another reason (ReplicaSetCreateError when a quota is full) may clear on a retry; its
        # message says more than the replica counts would.
        return from_condition(Phase.PROGRESSING, progressing, "NotProgressing", "not progressing")
    wanted = as_int(spec.get("replicas"), default=1)
    replicas = as_int(status.get("replicas"))
    updated = as_int(status.get("updatedReplicas"))
    available = as_int(status.get("availableReplicas"))
    if updated < wanted:
        return Health(Phase.PROGRESSING, "Updating", f"{updated} of {wanted} new replicas updated")
    if replicas > updated:
        return Health(
            Phase.PROGRESSING,
            "TerminatingOldReplicas",
            f"{replicas - updated} old replicas pending termination",
        )
    if available < updated:
        return Health(
            Phase.PROGRESSING,
            "WaitingForAvailable",
            f"{available} of {updated} updated replicas available",
        )
    # Counts can look complete while the controller says otherwise (minReadySeconds, a
    # maxUnavailable it cannot meet): the condition is its verdict, as kstatus reads it.
    available_condition = conditions_of(status).get("Available")
    if is_false(available_condition):
        return from_condition(
            Phase.PROGRESSING, available_condition, "Unavailable", "deployment is not available"
        )
    if wanted == 0:
        return Health(Phase.READY, "ScaledToZero", "scaled to zero")
    return Health(Phase.READY, "Available", f"{available}/{wanted} replicas ready")


def job_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    conditions = conditions_of(status)
    for kind in ("Complete", "SuccessCriteriaMet"):
        if is_true(conditions.get(kind)):
            succeeded = as_int(status.get("succeeded"))
            return from_condition(
                Phase.SUCCEEDED, conditions[kind], "Completed", f"{succeeded} pods succeeded"
            )
    for kind in ("Failed", "FailureTarget"):
        if is_true(conditions.get(kind)):
            return from_condition(Phase.FAILED, conditions[kind], "Failed", "job failed")
    if is_true(conditions.get("Suspended")) or spec_of(obj).get("suspend") is True:
        return Health(Phase.PENDING, "Suspended", "job is suspended")
    active = as_int(status.get("active"))
    if active > 0:
        return Health(Phase.PROGRESSING, "Running", f"{active} pods running")
    if as_int(status.get("succeeded")) > 0 or as_int(status.get("failed")) > 0:
        return Health(Phase.PROGRESSING, "Running", "between pods")
    return Health(Phase.PENDING, "NotStarted", "no pod started yet")


def service_health(obj: dict[str, Any]) -> Health:
    if spec_of(obj).get("type") == "LoadBalancer":
        ingress = mapping(status_of(obj).get("loadBalancer")).get("ingress")
        if not isinstance(ingress, list) or not ingress:
            return Health(
                Phase.PROGRESSING, "WaitingForLoadBalancer", "waiting for a load balancer address"
            )
    return Health(Phase.READY, "Exists", "service exists")


def _hpa_conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    conditions = conditions_of(status_of(obj))
    if conditions:
        return conditions
    # autoscaling/v1 has no conditions field; the server puts them in an annotation instead.
    raw = mapping(mapping(obj.get("metadata")).get("annotations")).get(
        "autoscaling.alpha.kubernetes.io/conditions"
    )
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return conditions_of({"conditions": parsed})
    return {}


# AbleToScale False reasons that mean the target cannot be read or written, as opposed to a wait.
_HPA_SCALE_FAILURES = frozenset({"FailedGetScale", "FailedUpdateScale"})


def hpa_health(obj: dict[str, Any]) -> Health:
    conditions = _hpa_conditions(obj)
    if not conditions:
        return Health(
            Phase.PROGRESSING, "NoConditions", "waiting for the autoscaler's first status"
        )
    scaling = conditions.get("ScalingActive")
    if scaling is not None and is_false(scaling) and scaling.get("reason") == "ScalingDisabled":
        # Its target was scaled to zero on purpose; the Deployment rule calls that Ready too.
        return Health(
            Phase.READY, "ScaledToZero", as_str(scaling.get("message")) or "scaled to zero"
        )
    if is_false(scaling):
        return from_condition(Phase.DEGRADED, scaling, "ScalingActive", "cannot compute a scale")
    able = conditions.get("AbleToScale")
    if is_false(able):
        if able.get("reason") in _HPA_SCALE_FAILURES:
            return from_condition(Phase.DEGRADED, able, "AbleToScale", "cannot scale its target")
        # Older controllers report a back-off (BackoffBoth, BackoffUpscale...) this way.
        return from_condition(Phase.PROGRESSING, able, "AbleToScale", "waiting to scale")
    if not is_true(able):
        return Health(
            Phase.PROGRESSING, "WaitingForScale", "waiting for the autoscaler to read its target"
        )
    status = status_of(obj)
    current, desired = as_int(status.get("currentReplicas")), as_int(status.get("desiredReplicas"))
    return Health(Phase.READY, "ScalingActive", f"{current} replicas, {desired} desired")


# Container waiting reasons that will not clear without a change: the pod is stuck, not starting.
_STUCK_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def _waiting_containers(status: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(name, reason, message) of each waiting container, init containers first."""
    for field in ("initContainerStatuses", "containerStatuses"):
        statuses = status.get(field)
        if not isinstance(statuses, list):
            continue
        for container in statuses:
            waiting = mapping(mapping(mapping(container).get("state")).get("waiting"))
            reason = as_str(waiting.get("reason"))
            if reason:
                name = as_str(mapping(container).get("name")) or "a container"
                yield name, reason, as_str(waiting.get("message")) or f"{name} is {reason}"


def _stuck_container(status: dict[str, Any]) -> Health | None:
    for _, reason, message in _waiting_containers(status):
        if reason in _STUCK_WAITING:
            return Health(Phase.DEGRADED, reason, message)
    return None


def _starting_container(status: dict[str, Any]) -> Health | None:
    first = next(_waiting_containers(status), None)
    return None if first is None else Health(Phase.PROGRESSING, first[1], first[2])


def _crashed_container(status: dict[str, Any]) -> Health | None:
    """A container of a pod that is meant to run forever and has exited since it started.

    Such a pod cycles through running, terminated and CrashLoopBackOff; reading only the
    current state would make its phase flap between Progressing and Degraded. As in
    gitops-engine, a not-ready pod with a terminated container (now or last time) is Degraded.
    """
    statuses = status.get("containerStatuses")
    if not isinstance(statuses, list):
        return None
    for container in statuses:
        container = mapping(container)
        terminated = mapping(mapping(container.get("state")).get("terminated")) or mapping(
            mapping(container.get("lastState")).get("terminated")
        )
        if not terminated:
            continue
        name = as_str(container.get("name")) or "a container"
        reason = as_str(terminated.get("reason")) or "Terminated"
        restarts = as_int(container.get("restartCount"))
        code = as_int(terminated.get("exitCode"))
        return Health(
            Phase.DEGRADED,
            reason,
            f"{name} restarted {restarts} times, last exit code {code} ({reason})",
        )
    return None


def pod_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    phase = status.get("phase")
    reason, message = as_str(status.get("reason")), as_str(status.get("message"))
    if phase == "Succeeded":
        return Health(Phase.SUCCEEDED, reason or "Completed", message or "pod completed")
    if phase == "Failed":
        return Health(Phase.FAILED, reason or "Failed", message or "pod failed")
    stuck = _stuck_container(status)
    if stuck is not None:
        return stuck
    conditions = conditions_of(status)
    if phase == "Running":
        runs_forever = restart_policy(obj) == "Always"
        if is_true(conditions.get("Ready")):
            if not runs_forever:
                # A pod meant to finish is done when it has succeeded, not while it runs.
                return Health(Phase.PROGRESSING, "Running", "pod is running to completion")
            return Health(Phase.READY, "Running", "pod is ready")
        if runs_forever:
            crashed = _crashed_container(status)
            if crashed is not None:
                return crashed
        return Health(Phase.PROGRESSING, "NotReady", "pod is running, not ready yet")
    if phase == "Pending":
        scheduled = conditions.get("PodScheduled")
        if is_false(scheduled):
            return from_condition(Phase.PENDING, scheduled, "Unschedulable", "not scheduled")
        if is_true(scheduled):
            # On a node: the kubelet pulls images and starts containers, it is on its way.
            return _starting_container(status) or Health(
                Phase.PROGRESSING, "Starting", "pod is starting"
            )
        return Health(Phase.PENDING, "Pending", message or "waiting to be scheduled")
    if phase == "Unknown":
        return Health(Phase.DEGRADED, "Unknown", message or "node lost contact with the pod")
    return Health(Phase.PROGRESSING, "NoPhase", "pod has no phase yet")
