"""Assemble one spec's status from what the reconcile found: pure, no clock but ``now``.

The phase comes from the first stage that stopped the spec (``reconciler.reasons``: InvalidSpec,
RenderFailed, NotInstalled, ApplyFailed, NotOwned), else from the health of its objects; the
kind-specific fields come from the lifecycle (runs, steps, the promoted model). A prune guard that
holds is no spec's failure: it is reported once, in repository.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.health import Health, assess, load_failure, worst
from reconciler.phase import FINISHED, HEALTHY, Phase
from reconciler.reasons import Reason
from reconciler.specs.loaded import LoadResult, SpecKey
from reconciler.status.model import (
    Condition,
    PruneGuard,
    RepositoryStatus,
    ResourceRef,
    SpecStatus,
    UnparsableFile,
)
from reconciler.sweep.report import sweep_health


@dataclass(frozen=True)
class Outcome:
    """What happened to one spec in one reconcile."""

    key: SpecKey
    source_commit: str
    stage_reason: Reason | None = None  # set when a stage stopped the spec
    stage_message: str = ""
    waiting: str | None = None  # Pending with this reason (e.g. no model passes the gate yet)
    objects: Sequence[Mapping[str, Any]] = ()  # live objects the spec currently owns
    current: frozenset[str] = frozenset()  # names of the objects this commit wants
    extra: Mapping[str, Any] = field(default_factory=dict)
    drift_reverted: tuple[str, ...] = ()


FAILED_STAGES = {
    Reason.INVALID_SPEC: Phase.INVALID,
    Reason.RENDER_FAILED: Phase.FAILED,
    Reason.NOT_INSTALLED: Phase.FAILED,
    Reason.APPLY_FAILED: Phase.FAILED,
    Reason.NOT_OWNED: Phase.FAILED,
}


def _ready_condition(phase: Phase, reason: str, message: str, now: str) -> Condition:
    good = phase in HEALTHY
    # Plain text: the YAML dumper writes str itself, not its subclasses (a Reason member).
    return Condition("Ready", "True" if good else "False", str(reason), message, now)


def _replicas(objects: Iterable[Mapping[str, Any]]) -> dict[str, int] | None:
    desired = ready = 0
    found = False
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        found = True
        desired += int((obj.get("spec") or {}).get("replicas", 1) or 0)
        ready += int((obj.get("status") or {}).get("readyReplicas", 0) or 0)
    return {"desired": desired, "ready": ready} if found else None


def _training_phase(extra: Mapping[str, Any]) -> Health | None:
    current = extra.get("currentRun")
    for run in extra.get("runs") or ():
        if run.get("name") == current:
            phase = Phase(run["phase"]) if run.get("phase") in FINISHED else Phase.PROGRESSING
            return Health(phase, f"Run{run.get('phase')}", f"run {current} {run.get('phase')}")
    return None


def _pipeline_phase(extra: Mapping[str, Any]) -> Health | None:
    steps = extra.get("steps")
    if not steps:
        return None
    phases = [step.get("phase") for step in steps]
    done = sum(1 for p in phases if p == Phase.SUCCEEDED)
    summary = f"{done}/{len(steps)} steps succeeded"
    if any(p in (Phase.FAILED, Phase.BLOCKED) for p in phases):
        failed = next(s["name"] for s in steps if s.get("phase") == Phase.FAILED)
        return Health(Phase.FAILED, Reason.STEP_FAILED, f"step {failed} failed; {summary}")
    if done == len(steps):
        return Health(Phase.SUCCEEDED, Reason.PIPELINE_SUCCEEDED, summary)
    return Health(Phase.PROGRESSING, Reason.STEPS_RUNNING, summary)


def _pending_load(extra: dict[str, Any], objects: Iterable[Mapping[str, Any]]) -> None:
    """Mark the promotion not done while the serving object reports that its model failed to
    load: KServe keeps the previous model serving, so the promoted run does not serve yet.

    With a canary, the object was last asked to load the canary's model, so that is the one
    pending; otherwise the stable model.
    """
    failure = next(
        (found for obj in objects if (found := load_failure(dict(obj))) is not None), None
    )
    role = "canary" if "canary" in extra else "model"
    if failure is None or not isinstance(extra.get(role), Mapping):
        return
    extra[role] = {
        **extra[role],
        "promotion": "PendingLoad",
        "promotionMessage": f"{failure.reason}: {failure.message}",
    }


def _rolled_back(extra: Mapping[str, Any]) -> str | None:
    """Why the spec is Degraded when its canary analysis rolled back: serving works, on the
    primary only, and someone has to look at the canary (Argo Rollouts' aborted rollout)."""
    analysis = extra.get("analysis") or {}
    if analysis.get("phase") != "RolledBack":
        return None
    checks = analysis.get("checks") or ()
    last = checks[-1] if checks else {}
    failing = sorted(
        name
        for name, reading in (last.get("metrics") or {}).items()
        if reading.get("verdict") != "Pass"
    )
    canary = (extra.get("canary") or {}).get("uri", "the canary")
    at = f" at {last['weight']}%" if "weight" in last else ""
    because = f": {', '.join(failing)} failed" if failing else ""
    return f"canary {canary} rolled back{at}{because}; all traffic on the primary"


def assemble(outcome: Outcome, now: str) -> SpecStatus:
    extra = dict(outcome.extra)
    key = outcome.key
    resources = resource_refs(outcome.objects)
    if outcome.stage_reason is not None:
        phase = FAILED_STAGES.get(outcome.stage_reason, Phase.FAILED)
        message = outcome.stage_message
        reason = outcome.stage_reason
    elif outcome.waiting is not None:
        phase, reason, message = Phase.PENDING, Reason.WAITING, outcome.waiting
    else:
        current = [o for o in outcome.objects if o["metadata"]["name"] in outcome.current]
        health: Health | None = None
        if key.kind == "TrainingJob":
            # A run created by this very reconcile is not among the runs read before it: its
            # Job may already have finished, but the status reports it with its run next time.
            health = (
                sweep_health(extra)
                or _training_phase(extra)
                or Health(Phase.PROGRESSING, Reason.RUN_STARTING, "the new run is starting")
            )
        elif key.kind == "Pipeline":
            health = _pipeline_phase(extra)
        if health is None:
            health = worst(assess(dict(obj)) for obj in current)
        phase = health.phase
        reason, message = health.reason, health.message
        if key.kind == "ModelDeployment":
            replicas = _replicas(current)
            if replicas is not None:
                extra["replicas"] = replicas
            _pending_load(extra, current)
            rolled_back = _rolled_back(extra)
            if rolled_back is not None and phase < Phase.DEGRADED:
                phase, reason, message = Phase.DEGRADED, Reason.CANARY_ROLLED_BACK, rolled_back
    if outcome.drift_reverted:
        extra["driftReverted"] = list(outcome.drift_reverted)
    return SpecStatus(
        observed_commit=outcome.source_commit,
        phase=phase,
        message=message,
        conditions=(_ready_condition(phase, reason, message, now),),
        resources=resources,
        extra=extra,
    )


def resource_refs(objects: Iterable[Mapping[str, Any]]) -> tuple[ResourceRef, ...]:
    """The inventory entries of a spec's live objects, with their uids."""
    return tuple(
        sorted(
            ResourceRef(
                str(obj.get("apiVersion")),
                str(obj.get("kind")),
                str(obj.get("metadata", {}).get("namespace") or ""),
                str(obj.get("metadata", {}).get("name")),
                str(obj.get("metadata", {}).get("uid") or ""),
            )
            for obj in objects
        )
    )


def invalid(
    source_commit: str,
    problems: Sequence[object],
    now: str,
    objects: Iterable[Mapping[str, Any]] = (),
) -> SpecStatus:
    """An Invalid spec's status; its objects stay in the inventory, so removing the spec later
    still prunes them."""
    message = "; ".join(str(p) for p in problems[:3])
    if len(problems) > 3:
        message += f" (+{len(problems) - 3} more)"
    return SpecStatus(
        observed_commit=source_commit,
        phase=Phase.INVALID,
        message=message,
        conditions=(_ready_condition(Phase.INVALID, Reason.INVALID_SPEC, message, now),),
        resources=resource_refs(objects),
    )


def repository_status(
    head: str,
    load: LoadResult,
    source_error: str | None,
    guard: PruneGuard | None,
    config_error: str | None = None,
    status_branch: str | None = None,
) -> RepositoryStatus:
    """``repository.yaml``: the commit reconciled, the source's health, what fits no spec.

    ``config_error``: why the tip's reconciler.yaml is refused (``head`` is then the last good
    commit, or empty). ``status_branch``: the branch status goes to; a different
    ``statusBranch`` asked for by reconciler.yaml is noted, since it is not used.
    """
    unparsable = tuple(
        UnparsableFile(p.file, p.line, p.message)
        for p in load.problems
        if not any(p in problems for problems in load.invalid.values())
    )
    messages = [message for message in (source_error, config_error) if message]
    asked = load.config.status_branch
    if (
        status_branch is not None
        and "status_branch" in load.config.model_fields_set
        and asked != status_branch
    ):
        messages.append(
            f"statusBranch {asked!r} of reconciler.yaml is not used: status is written to "
            f"{status_branch!r} (the operator's --status-branch, or the branch chosen at start)"
        )
    return RepositoryStatus(
        source_commit=head,
        source_phase=Phase.FAILED if source_error or config_error else Phase.READY,
        source_message="; ".join(messages),
        unparsable_files=unparsable,
        prune_guard=guard,
    )
