"""Health: one small rule per (group, kind) from a live object to a phase with a reason.

Pure: reads only the object. Every rule tolerates missing or malformed status, because a status
is written by controllers this project does not control; an object whose status cannot be read
is Progressing (the controller has not said anything usable yet), never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler import kinds
from reconciler.health._core import (
    deployment_health,
    hpa_health,
    job_health,
    pod_health,
    service_health,
)
from reconciler.health._read import (
    Health,
    Rule,
    conditions_of,
    from_condition,
    generation_behind,
    mapping,
    status_of,
)
from reconciler.health._serving import (
    inference_service_health,
    llm_inference_service_health,
    load_failure,
    seldon_deployment_health,
)
from reconciler.health._training import pytorch_job_health, ray_job_health, train_job_health
from reconciler.phase import Phase

__all__ = ["Health", "Rule", "assess", "load_failure", "worst"]


def assess(obj: dict[str, Any]) -> Health:
    """The health of one live object; kinds without a rule get the generic kstatus reading."""
    if not isinstance(obj, dict):
        return Health(Phase.PROGRESSING, "UnreadableObject", "object is not a mapping")
    metadata = mapping(obj.get("metadata"))
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
    observed, generation = status_of(obj).get("observedGeneration"), metadata.get("generation")
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
    behind = generation_behind(obj)
    if behind is not None:
        return behind
    conditions = conditions_of(status_of(obj))
    for kind, value, phase, reason in _GENERIC:
        condition = conditions.get(kind)
        if condition is not None and condition.get("status") == value:
            message = f"{kind} is {value}"
            return from_condition(phase, condition, reason, message)
    return Health(Phase.READY, "Exists", "exists")


# Rules by the name the registry (reconciler.kinds) gives them; a name missing here fails at
# import, so a kind never silently falls back to the generic reading.
_BY_NAME: dict[str, Rule] = {
    "deployment": deployment_health,
    "job": job_health,
    "service": service_health,
    "hpa": hpa_health,
    "pod": pod_health,
    "inference_service": inference_service_health,
    "seldon_deployment": seldon_deployment_health,
    "pytorch_job": pytorch_job_health,
    "ray_job": ray_job_health,
    "llm_inference_service": llm_inference_service_health,
    "train_job": train_job_health,
}
_RULES: dict[tuple[str, str], Rule] = {
    (info.group, info.kind): _BY_NAME[info.health] for info in kinds.KINDS if info.health
}
