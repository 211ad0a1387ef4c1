"""Health: one small rule per (group, kind) from a live object to a phase with a reason.

Pure: reads only the object. Every rule tolerates missing or malformed status, because a status
is written by controllers this project does not control; an object whose status cannot be read
is Progressing (the controller has not said anything usable yet), never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler import kinds
from reconciler.phase import Phase


@dataclass(frozen=True)
class Health:
    phase: Phase
    reason: str
    """A CamelCase word for machines, often the controller's own condition reason."""
    message: str
    """One human line."""


Rule = Callable[[dict[str, Any]], Health]


def assess(obj: dict[str, Any]) -> Health:
    """The health of one live object; kinds without a rule get the generic kstatus reading."""
    if not isinstance(obj, dict):
        return Health(Phase.PROGRESSING, "UnreadableObject", "object is not a mapping")
    metadata = _map(obj.get("metadata"))
    if metadata.get("deletionTimestamp"):
        return Health(Phase.PROGRESSING, "Deleting", "being deleted")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return Health(Phase.PROGRESSING, "UnreadableObject", "object has no apiVersion and kind")
    rule = _RULES.get((api_version.rpartition("/")[0], kind), _generic)
    try:
        health = rule(obj)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # The readers below already coerce what they get; this is the last line for shapes
        # nobody anticipated, so a strange status never stops a reconcile. Only the exception's
        # type is named: its text could quote a value of the live object.
        return Health(
            Phase.PROGRESSING,
            "UnreadableStatus",
            f"status could not be read ({type(exc).__name__})",
        )
    # A status written for an older generation says nothing about the current spec: until the
    # controller has seen the change, an updated InferenceService is not Ready yet.
    observed, generation = _status(obj).get("observedGeneration"), metadata.get("generation")
    behind = isinstance(observed, int) and isinstance(generation, int) and observed < generation
    if behind and health.phase is Phase.READY:
        return Health(
            Phase.PROGRESSING,
            "ObservedGenerationBehind",
            f"waiting for the controller to observe generation {generation}",
        )
    return health


def worst(healths: Iterable[Health]) -> Health:
    """The worst of several; the first one wins a tie so the result is stable."""
    result: Health | None = None
    for health in healths:
        if result is None or health.phase > result.phase:
            result = health
    return result or Health(Phase.PENDING, "NothingToAssess", "nothing to assess")


# --- readers that never raise ------------------------------------------------------------------


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return _map(obj.get("status"))


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return _map(obj.get("spec"))


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Conditions by type; a malformed entry is skipped rather than trusted."""
    found: dict[str, dict[str, Any]] = {}
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for condition in conditions:
            if isinstance(condition, dict) and isinstance(condition.get("type"), str):
                found[condition["type"]] = condition
    return found


def _is_true(condition: dict[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def _is_false(condition: dict[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "False"


def _restart_policy(obj: dict[str, Any]) -> str:
    return _str(_spec(obj).get("restartPolicy")) or "Always"


def _from_condition(
    phase: Phase, condition: dict[str, Any], default_reason: str, default_message: str
) -> Health:
    return Health(
        phase,
        _str(condition.get("reason")) or default_reason,
        _str(condition.get("message")) or default_message,
    )


# --- core kinds --------------------------------------------------------------------------------


def _deployment(obj: dict[str, Any]) -> Health:
    # The checks and their order are kubectl rollout status's.
    spec, status = _spec(obj), _status(obj)
    generation = _int(_map(obj.get("metadata")).get("generation"))
    if _int(status.get("observedGeneration")) < generation:
        return Health(Phase.PROGRESSING, "RolloutNotObserved", "waiting for rollout to be observed")
    if spec.get("paused") is True:
        return Health(Phase.DEGRADED, "Paused", "rollout is paused")
    progressing = _conditions(status).get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return _from_condition(
            Phase.FAILED,
            progressing,
            "ProgressDeadlineExceeded",
            "rollout exceeded its progress deadline",
        )
    if _is_false(progressing):
        # Another reason (ReplicaSetCreateError when a quota is full) may clear on a retry; its
        # message says more than the replica counts would.
        return _from_condition(Phase.PROGRESSING, progressing, "NotProgressing", "not progressing")
    wanted = _int(spec.get("replicas"), default=1)
    replicas = _int(status.get("replicas"))
    updated = _int(status.get("updatedReplicas"))
    available = _int(status.get("availableReplicas"))
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
    available_condition = _conditions(status).get("Available")
    if _is_false(available_condition):
        return _from_condition(
            Phase.PROGRESSING, available_condition, "Unavailable", "deployment is not available"
        )
    if wanted == 0:
        return Health(Phase.READY, "ScaledToZero", "scaled to zero")
    return Health(Phase.READY, "Available", f"{available}/{wanted} replicas ready")


def _job(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    conditions = _conditions(status)
    for kind in ("Complete", "SuccessCriteriaMet"):
        if _is_true(conditions.get(kind)):
            succeeded = _int(status.get("succeeded"))
            return _from_condition(
                Phase.SUCCEEDED, conditions[kind], "Completed", f"{succeeded} pods succeeded"
            )
    for kind in ("Failed", "FailureTarget"):
        if _is_true(conditions.get(kind)):
            return _from_condition(Phase.FAILED, conditions[kind], "Failed", "job failed")
    if _is_true(conditions.get("Suspended")) or _spec(obj).get("suspend") is True:
        return Health(Phase.PENDING, "Suspended", "job is suspended")
    active = _int(status.get("active"))
    if active > 0:
        return Health(Phase.PROGRESSING, "Running", f"{active} pods running")
    if _int(status.get("succeeded")) > 0 or _int(status.get("failed")) > 0:
        return Health(Phase.PROGRESSING, "Running", "between pods")
    return Health(Phase.PENDING, "NotStarted", "no pod started yet")


def _service(obj: dict[str, Any]) -> Health:
    if _spec(obj).get("type") == "LoadBalancer":
        ingress = _map(_status(obj).get("loadBalancer")).get("ingress")
        if not isinstance(ingress, list) or not ingress:
            return Health(
                Phase.PROGRESSING, "WaitingForLoadBalancer", "waiting for a load balancer address"
            )
    return Health(Phase.READY, "Exists", "service exists")


def _hpa_conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    conditions = _conditions(_status(obj))
    if conditions:
        return conditions
    # autoscaling/v1 has no conditions field; the server puts them in an annotation instead.
    raw = _map(_map(obj.get("metadata")).get("annotations")).get(
        "autoscaling.alpha.kubernetes.io/conditions"
    )
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return _conditions({"conditions": parsed})
    return {}


# AbleToScale False reasons that mean the target cannot be read or written, as opposed to a wait.
_HPA_SCALE_FAILURES = frozenset({"FailedGetScale", "FailedUpdateScale"})


def _hpa(obj: dict[str, Any]) -> Health:
    conditions = _hpa_conditions(obj)
    if not conditions:
        return Health(
            Phase.PROGRESSING, "NoConditions", "waiting for the autoscaler's first status"
        )
    scaling = conditions.get("ScalingActive")
    if scaling is not None and _is_false(scaling) and scaling.get("reason") == "ScalingDisabled":
        # Its target was scaled to zero on purpose; the Deployment rule calls that Ready too.
        return Health(Phase.READY, "ScaledToZero", _str(scaling.get("message")) or "scaled to zero")
    if _is_false(scaling):
        return _from_condition(Phase.DEGRADED, scaling, "ScalingActive", "cannot compute a scale")
    able = conditions.get("AbleToScale")
    if _is_false(able):
        if able.get("reason") in _HPA_SCALE_FAILURES:
            return _from_condition(Phase.DEGRADED, able, "AbleToScale", "cannot scale its target")
        # Older controllers report a back-off (BackoffBoth, BackoffUpscale...) this way.
        return _from_condition(Phase.PROGRESSING, able, "AbleToScale", "waiting to scale")
    if not _is_true(able):
        return Health(
            Phase.PROGRESSING, "WaitingForScale", "waiting for the autoscaler to read its target"
        )
    status = _status(obj)
    current, desired = _int(status.get("currentReplicas")), _int(status.get("desiredReplicas"))
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
            waiting = _map(_map(_map(container).get("state")).get("waiting"))
            reason = _str(waiting.get("reason"))
            if reason:
                name = _str(_map(container).get("name")) or "a container"
                yield name, reason, _str(waiting.get("message")) or f"{name} is {reason}"


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
        container = _map(container)
        terminated = _map(_map(container.get("state")).get("terminated")) or _map(
            _map(container.get("lastState")).get("terminated")
        )
        if not terminated:
            continue
        name = _str(container.get("name")) or "a container"
        reason = _str(terminated.get("reason")) or "Terminated"
        restarts = _int(container.get("restartCount"))
        code = _int(terminated.get("exitCode"))
        return Health(
            Phase.DEGRADED,
            reason,
            f"{name} restarted {restarts} times, last exit code {code} ({reason})",
        )
    return None


def _pod(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    phase = status.get("phase")
    reason, message = _str(status.get("reason")), _str(status.get("message"))
    if phase == "Succeeded":
        return Health(Phase.SUCCEEDED, reason or "Completed", message or "pod completed")
    if phase == "Failed":
        return Health(Phase.FAILED, reason or "Failed", message or "pod failed")
    stuck = _stuck_container(status)
    if stuck is not None:
        return stuck
    conditions = _conditions(status)
    if phase == "Running":
        runs_forever = _restart_policy(obj) == "Always"
        if _is_true(conditions.get("Ready")):
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
        if _is_false(scheduled):
            return _from_condition(Phase.PENDING, scheduled, "Unschedulable", "not scheduled")
        if _is_true(scheduled):
            # On a node: the kubelet pulls images and starts containers, it is on its way.
            return _starting_container(status) or Health(
                Phase.PROGRESSING, "Starting", "pod is starting"
            )
        return Health(Phase.PENDING, "Pending", message or "waiting to be scheduled")
    if phase == "Unknown":
        return Health(Phase.DEGRADED, "Unknown", message or "node lost contact with the pod")
    return Health(Phase.PROGRESSING, "NoPhase", "pod has no phase yet")


# --- serving -----------------------------------------------------------------------------------

# Ready=False reasons that do not clear by waiting. Others (RevisionMissing, IngressNotConfigured,
# PredictorConfigurationReady...) are steps of a normal rollout.
_KSERVE_FAILURES = frozenset(
    {"RevisionFailed", "ContainerMissing", "ExitCode", "ProgressDeadlineExceeded"}
)
_KSERVE_FAILED_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})


def load_failure(obj: dict[str, Any]) -> Health | None:
    """Why the model a serving object was last asked to serve did not load; None if it did
    or the kind does not report loads.

    KServe keeps the previous model serving, and its Ready condition True, when a new one fails
    to load: Ready alone would say the new model serves.
    """
    if not isinstance(obj, dict) or obj.get("kind") != "InferenceService":
        return None
    model_status = _map(_status(obj).get("modelStatus"))
    transition = _str(model_status.get("transitionStatus"))
    if transition not in _KSERVE_FAILED_TRANSITIONS:
        return None
    failure = _map(model_status.get("lastFailureInfo"))
    return Health(
        Phase.FAILED,
        _str(failure.get("reason")) or transition,
        _str(failure.get("message")) or "model failed to load",
    )


def _inference_service(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    conditions = _conditions(status)
    ready = conditions.get("Ready")
    failed_load = load_failure(obj)
    if _is_true(ready):
        if failed_load is not None:
            return Health(
                Phase.DEGRADED,
                failed_load.reason,
                f"new model failed to load, the previous one still serves: {failed_load.message}",
            )
        url = _str(status.get("url"))
        return Health(Phase.READY, "Ready", f"serving at {url}" if url else "serving")
    if failed_load is not None:
        return failed_load
    if _is_true(conditions.get("Stopped")):
        # Stopped on purpose (the serving.kserve.io/stop annotation): settled, not on its way,
        # like a suspended Job.
        source = ready if ready is not None else conditions["Stopped"]
        return _from_condition(Phase.PENDING, source, "Stopped", "inference service is stopped")
    # Ready carries the reason of one step only (often the ingress); a revision that failed shows
    # on the predictor's own conditions, so every False condition is read, Ready's first.
    for condition in sorted(conditions.values(), key=lambda c: c is not ready):
        if _is_false(condition) and condition.get("reason") in _KSERVE_FAILURES:
            return _from_condition(Phase.FAILED, condition, "Failed", "inference service failed")
    if ready is None:
        return Health(Phase.PROGRESSING, "NotReady", "waiting for the Ready condition")
    return _from_condition(Phase.PROGRESSING, ready, "NotReady", "inference service not ready yet")


def _seldon_deployment(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    state = status.get("state")
    description = _str(status.get("description"))
    if state == "Available":
        return Health(Phase.READY, "Available", description or "available")
    if state == "Failed":
        return Health(Phase.FAILED, "Failed", description or "seldon deployment failed")
    if state == "Creating":
        return Health(Phase.PROGRESSING, "Creating", description or "creating")
    return Health(Phase.PROGRESSING, "NoState", "waiting for a state")


# --- training ----------------------------------------------------------------------------------


def _pytorch_job(obj: dict[str, Any]) -> Health:
    # The training operator keeps every condition it ever set; terminal ones are checked first.
    conditions = _conditions(_status(obj))
    rules = (
        ("Succeeded", Phase.SUCCEEDED, "training finished"),
        ("Failed", Phase.FAILED, "training failed"),
        ("Suspended", Phase.PENDING, "job is suspended"),
        ("Restarting", Phase.PROGRESSING, "workers are restarting"),
        ("Running", Phase.PROGRESSING, "training is running"),
        ("Created", Phase.PENDING, "waiting for workers to start"),
    )
    for kind, phase, message in rules:
        if _is_true(conditions.get(kind)):
            return _from_condition(phase, conditions[kind], kind, message)
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


def _ray_job(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    job_status = status.get("jobStatus")
    deployment_status = status.get("jobDeploymentStatus")
    detail = _str(status.get("message"))
    # jobStatus is the Ray job itself; once terminal it outranks the cluster's lifecycle, which
    # may still be tearing down.
    if job_status in _RAY_JOB_STATUS:
        phase, reason, message = _RAY_JOB_STATUS[job_status]
        return Health(phase, _str(status.get("reason")) or reason, detail or message)
    if deployment_status in _RAY_DEPLOYMENT_STATUS:
        phase, reason, message = _RAY_DEPLOYMENT_STATUS[deployment_status]
        return Health(phase, _str(status.get("reason")) or reason, detail or message)
    if job_status == "RUNNING":
        return Health(Phase.PROGRESSING, "Running", detail or "job is running")
    if deployment_status == "Complete":
        return Health(Phase.PROGRESSING, "Completing", "waiting for the final job status")
    if job_status == "PENDING" or deployment_status == "Running":
        return Health(Phase.PENDING, "JobPending", detail or "job submitted, not running yet")
    return Health(Phase.PENDING, "NotStarted", "no status yet")


# LLMInferenceService's Ready follows these, each summarising its own sub-conditions.
_LLM_PARTS = ("PresetsCombined", "WorkloadsReady", "RouterReady")


def _llm_inference_service(obj: dict[str, Any]) -> Health:
    status = _status(obj)
    conditions = _conditions(status)
    behind = _generation_behind(obj)
    if behind is not None:
        return behind
    presets = conditions.get("PresetsCombined")
    if presets is not None and _is_false(presets):
        # The spec names configuration that cannot be combined: no waiting will fix it.
        return _from_condition(Phase.FAILED, presets, "PresetsNotCombined", "presets not combined")
    ready = conditions.get("Ready")
    if _is_true(ready):
        url = _str(status.get("url"))
        return Health(Phase.READY, "Ready", f"serving at {url}" if url else "serving")
    for part in _LLM_PARTS:
        condition = conditions.get(part)
        if condition is not None and _is_false(condition):
            message = _str(condition.get("message")) or "not ready"
            return Health(
                Phase.PROGRESSING, _str(condition.get("reason")) or part, f"{part}: {message}"
            )
    if ready is None:
        return Health(Phase.PROGRESSING, "NotReady", "waiting for the Ready condition")
    return _from_condition(Phase.PROGRESSING, ready, "NotReady", "not ready yet")


def _train_job(obj: dict[str, Any]) -> Health:
    # Kubeflow Trainer v2: Complete, Failed and Suspended are its only conditions.
    status = _status(obj)
    conditions = _conditions(status)
    rules = (
        ("Complete", Phase.SUCCEEDED, "training finished"),
        ("Failed", Phase.FAILED, "training failed"),
        ("Suspended", Phase.PENDING, "job is suspended"),
    )
    for kind, phase, message in rules:
        if _is_true(conditions.get(kind)):
            return _from_condition(phase, conditions[kind], kind, message)
    if _spec(obj).get("suspend") is True:
        return Health(Phase.PENDING, "Suspended", "job is suspended")
    jobs = status.get("jobsStatus")
    active = sum(_int(_map(job).get("active")) for job in jobs) if isinstance(jobs, list) else 0
    if active > 0:
        return Health(Phase.PROGRESSING, "Running", f"{active} jobs running")
    return Health(Phase.PENDING, "NotStarted", "no job started yet")


# --- kinds without a rule ----------------------------------------------------------------------


def _generation_behind(obj: dict[str, Any]) -> Health | None:
    observed = _status(obj).get("observedGeneration")
    generation = _map(obj.get("metadata")).get("generation")
    if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
        return Health(
            Phase.PROGRESSING,
            "ObservedGenerationBehind",
            f"waiting for the controller to observe generation {generation}",
        )
    return None


# (condition type, status, phase, default reason), first match wins: the abnormal-true
# conditions of kstatus first, then the usual readiness ones. Ready/Available False is
# Progressing, as kstatus reads it: a controller that says "not yet" is still at work.
_GENERIC = (
    ("Stalled", "True", Phase.FAILED, "Stalled"),
    ("Failed", "True", Phase.FAILED, "Failed"),
    ("Reconciling", "True", Phase.PROGRESSING, "Reconciling"),
    ("Succeeded", "True", Phase.SUCCEEDED, "Succeeded"),
    ("Ready", "True", Phase.READY, "Ready"),
    ("Ready", "False", Phase.PROGRESSING, "NotReady"),
    ("Available", "True", Phase.READY, "Available"),
    ("Available", "False", Phase.PROGRESSING, "NotAvailable"),
)


def _generic(obj: dict[str, Any]) -> Health:
    """A kind without a rule, read as kstatus reads any resource: a status written for an older
    generation first, then the well-known condition types, and only then mere existence."""
    behind = _generation_behind(obj)
    if behind is not None:
        return behind
    conditions = _conditions(_status(obj))
    for kind, value, phase, reason in _GENERIC:
        condition = conditions.get(kind)
        if condition is not None and condition.get("status") == value:
            message = f"{kind} is {value}"
            return _from_condition(phase, condition, reason, message)
    return Health(Phase.READY, "Exists", "exists")


# Rules by the name the registry (reconciler.kinds) gives them; a name missing here fails at
# import, so a kind never silently falls back to the generic reading.
_BY_NAME: dict[str, Rule] = {
    "deployment": _deployment,
    "job": _job,
    "service": _service,
    "hpa": _hpa,
    "pod": _pod,
    "inference_service": _inference_service,
    "seldon_deployment": _seldon_deployment,
    "pytorch_job": _pytorch_job,
    "ray_job": _ray_job,
    "llm_inference_service": _llm_inference_service,
    "train_job": _train_job,
}
_RULES: dict[tuple[str, str], Rule] = {
    (info.group, info.kind): _BY_NAME[info.health] for info in kinds.KINDS if info.health
}
