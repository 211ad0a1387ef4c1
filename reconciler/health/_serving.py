"""Health of the serving custom resources: KServe InferenceService and LLMInferenceService,
SeldonDeployment."""

from __future__ import annotations

from typing import Any

from reconciler.health._read import (
    Health,
    as_str,
    conditions_of,
    from_condition,
    generation_behind,
    is_false,
    is_true,
    mapping,
    status_of,
)
from reconciler.phase import Phase

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
    model_status = mapping(status_of(obj).get("modelStatus"))
    transition = as_str(model_status.get("transitionStatus"))
    if transition not in _KSERVE_FAILED_TRANSITIONS:
        return None
    failure = mapping(model_status.get("lastFailureInfo"))
    return Health(
        Phase.FAILED,
        as_str(failure.get("reason")) or transition,
        as_str(failure.get("message")) or "model failed to load",
    )


def inference_service_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    conditions = conditions_of(status)
    ready = conditions.get("Ready")
    failed_load = load_failure(obj)
    if is_true(ready):
        if failed_load is not None:
            return Health(
                Phase.DEGRADED,
                failed_load.reason,
                f"new model failed to load, the previous one still serves: {failed_load.message}",
            )
        url = as_str(status.get("url"))
        return Health(Phase.READY, "Ready", f"serving at {url}" if url else "serving")
    if failed_load is not None:
        return failed_load
    if is_true(conditions.get("Stopped")):
        # Stopped on purpose (the serving.kserve.io/stop annotation): settled, not on its way,
        # like a suspended Job.
        source = ready if ready is not None else conditions["Stopped"]
        return from_condition(Phase.PENDING, source, "Stopped", "inference service is stopped")
    # Ready carries the reason of one step only (often the ingress); a revision that failed shows
    # on the predictor's own conditions, so every False condition is read, Ready's first.
    for condition in sorted(conditions.values(), key=lambda c: c is not ready):
        if is_false(condition) and condition.get("reason") in _KSERVE_FAILURES:
            return from_condition(Phase.FAILED, condition, "Failed", "inference service failed")
    if ready is None:
        return Health(Phase.PROGRESSING, "NotReady", "waiting for the Ready condition")
    return from_condition(Phase.PROGRESSING, ready, "NotReady", "inference service not ready yet")


def seldon_deployment_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    state = status.get("state")
    description = as_str(status.get("description"))
    if state == "Available":
        return Health(Phase.READY, "Available", description or "available")
    if state == "Failed":
        return Health(Phase.FAILED, "Failed", description or "seldon deployment failed")
    if state == "Creating":
        return Health(Phase.PROGRESSING, "Creating", description or "creating")
    return Health(Phase.PROGRESSING, "NoState", "waiting for a state")


# LLMInferenceService's Ready follows these, each summarising its own sub-conditions.
_LLM_PARTS = ("PresetsCombined", "WorkloadsReady", "RouterReady")


def llm_inference_service_health(obj: dict[str, Any]) -> Health:
    status = status_of(obj)
    conditions = conditions_of(status)
    behind = generation_behind(obj)
    if behind is not None:
        return behind
    presets = conditions.get("PresetsCombined")
    if presets is not None and is_false(presets):
        # The spec names configuration that cannot be combined: no waiting will fix it.
        return from_condition(Phase.FAILED, presets, "PresetsNotCombined", "presets not combined")
    ready = conditions.get("Ready")
    if is_true(ready):
        url = as_str(status.get("url"))
        return Health(Phase.READY, "Ready", f"serving at {url}" if url else "serving")
    for part in _LLM_PARTS:
        condition = conditions.get(part)
        if condition is not None and is_false(condition):
            message = as_str(condition.get("message")) or "not ready"
            return Health(
                Phase.PROGRESSING, as_str(condition.get("reason")) or part, f"{part}: {message}"
            )
    if ready is None:
        return Health(Phase.PROGRESSING, "NotReady", "waiting for the Ready condition")
    return from_condition(Phase.PROGRESSING, ready, "NotReady", "not ready yet")
