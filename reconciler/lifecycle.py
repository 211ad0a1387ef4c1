"""Training runs, gated promotion and pipeline progress, as pure functions of live objects.

A run is a create-once object (Job, PyTorchJob or RayJob) labelled ``mlops/run-hash``. Its
metrics come from the termination message of its pod (a JSON object of numbers). A model is
promoted from the newest succeeded run whose metrics meet every minimum of the serving spec's
gate; a newer run that fails the gate leaves serving on the previous model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import labels
from reconciler.health import assess
from reconciler.phase import FINISHED, Phase

MAX_TERMINATION_MESSAGE = 4096  # the kubelet's own limit; anything longer is not ours


@dataclass(frozen=True)
class Run:
    name: str
    hash: str
    phase: Phase  # Pending, Progressing, Succeeded or Failed
    reason: str
    output_uri: str | None
    source_commit: str | None
    created: str
    start_time: str | None = None
    end_time: str | None = None
    step: str | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] | None = None
    metrics_note: str | None = None
    # False until a finished pod of the run has been seen: its metrics may still be on the way.
    metrics_read: bool = True
    sweep: str | None = None  # the sweep a trial run belongs to (reconciler.sweep)
    trial: Mapping[str, Any] | None = None  # its index, parameters and objective

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", Phase(self.phase))

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "hash": self.hash, "phase": str(self.phase)}
        optional = {
            "reason": self.reason if self.phase is Phase.FAILED else None,
            "outputUri": self.output_uri,
            "sourceCommit": self.source_commit,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "metrics": dict(sorted(self.metrics.items())) if self.metrics else None,
            "metricsNote": self.metrics_note,
        }
        entry.update({k: v for k, v in optional.items() if v is not None})
        return entry


def parse_metrics(message: str | None) -> tuple[dict[str, float] | None, str | None]:
    """Metrics from a termination message, or a note saying why there are none."""
    if not message or not message.strip():
        return None, None
    if len(message) > MAX_TERMINATION_MESSAGE:
        return None, f"termination message ignored: longer than {MAX_TERMINATION_MESSAGE} bytes"
    try:
        data = json.loads(message)
    except ValueError:
        return None, "termination message is not JSON; expected an object of numbers"
    if not isinstance(data, dict):
        return None, "termination message is not a JSON object of numbers"
    metrics: dict[str, float] = {}
    skipped = []
    for name, value in data.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            skipped.append(str(name)[:40])
        else:
            metrics[str(name)[:63]] = float(value)
    note = f"non-numeric metrics ignored: {', '.join(sorted(skipped))}" if skipped else None
    return metrics or None, note


def pod_essentials(pod: dict[str, Any]) -> dict[str, Any]:
    """What runs need of a pod (its labels and how its containers ended): a pod cache of
    thousands of runs holds these few fields, not whole pods."""
    metadata = pod.get("metadata", {})
    ended = []
    for container in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            kept = {k: terminated[k] for k in ("message", "finishedAt") if k in terminated}
            ended.append({"state": {"terminated": kept}})
    return {
        "apiVersion": pod.get("apiVersion", "v1"),
        "kind": pod.get("kind", "Pod"),
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "labels", "resourceVersion")
            if key in metadata
        },
        "status": {"containerStatuses": ended},
    }


def _termination_message(pod: Mapping[str, Any]) -> str | None:
    for container in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("message"):
            return str(terminated["message"])
    return None


def _pod_finished_at(pod: Mapping[str, Any]) -> str:
    for container in pod.get("status", {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("finishedAt"):
            return str(terminated["finishedAt"])
    return ""


def _json_map(raw: str | None) -> dict[str, str]:
    """A step's outputs, recorded as a JSON object annotation when its run was created."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _json_object(raw: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _times(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    status = obj.get("status") or {}
    start = status.get("startTime")
    end = status.get("completionTime") or status.get("endTime")
    return (str(start) if start else None, str(end) if end else None)


def runs_from(objects: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Every run among ``objects``, newest first, with metrics from its pods."""
    messages: dict[str, tuple[str, str]] = {}
    finished: set[str] = set()
    for pod in pods:
        pod_labels = pod.get("metadata", {}).get("labels") or {}
        run_hash, spec_name = pod_labels.get(labels.RUN_HASH), pod_labels.get(labels.SPEC_NAME)
        if not run_hash or not spec_name:
            continue
        key = f"{spec_name}/{pod_labels.get(labels.PIPELINE_STEP, '')}/{run_hash}"
        if _pod_finished_at(pod):
            finished.add(key)
        message = _termination_message(pod)
        if message is None:
            continue
        finished_at = _pod_finished_at(pod)
        if key not in messages or finished_at > messages[key][0]:
            messages[key] = (finished_at, message)
    runs = []
    for obj in objects:
        metadata = obj.get("metadata", {})
        obj_labels = metadata.get("labels") or {}
        run_hash = obj_labels.get(labels.RUN_HASH)
        if not run_hash:
            continue
        annotations = metadata.get("annotations") or {}
        step = obj_labels.get(labels.PIPELINE_STEP)
        health = assess(dict(obj))
        # A run is a Job-like object: Ready means its pods run, not that it has finished.
        phase = Phase.PROGRESSING if health.phase is Phase.READY else health.phase
        metrics, note = None, None
        key = f"{obj_labels.get(labels.SPEC_NAME)}/{step or ''}/{run_hash}"
        if phase in FINISHED:
            found = messages.get(key)
            metrics, note = parse_metrics(found[1] if found else None)
        start, end = _times(obj)
        outputs = _json_map(annotations.get(labels.OUTPUTS))
        runs.append(
            Run(
                name=str(metadata.get("name")),
                hash=run_hash,
                phase=phase,
                reason=health.message or health.reason,
                output_uri=annotations.get(labels.OUTPUT_URI),
                source_commit=annotations.get(labels.SOURCE_COMMIT),
                # creationTimestamp has one-second resolution; the stamp orders runs made
                # within one second, and runs made by other tools still sort by the server's.
                created=str(
                    annotations.get(labels.CREATED_AT) or metadata.get("creationTimestamp") or ""
                ),
                start_time=start,
                end_time=end,
                step=step,
                outputs=outputs,
                metrics=metrics,
                metrics_note=note,
                metrics_read=key in finished,
                sweep=obj_labels.get(labels.SWEEP),
                trial=_json_object(annotations.get(labels.TRIAL)),
            )
        )
    runs.sort(key=lambda run: (run.created, run.name), reverse=True)
    return runs


def gate_failures(run: Run, minimums: Mapping[str, float] | None) -> list[str]:
    """Why ``run`` may not be promoted, e.g. ``accuracy 0.87 < 0.9``; empty when it may."""
    if not minimums:
        return []
    failures = []
    for name, minimum in sorted(minimums.items()):
        value = (run.metrics or {}).get(name)
        if value is None:
            failures.append(f"{name} missing (needs >= {minimum:g})")
        elif value < minimum:
            failures.append(f"{name} {value:g} < {minimum:g}")
    return failures


@dataclass(frozen=True)
class Promotion:
    """Which run's output a serving spec gets, and why newer runs were passed over."""

    run: Run | None
    reason: str
    rejected: tuple[tuple[str, str], ...] = field(default=())  # (run name, why)

    @property
    def uri(self) -> str | None:
        return self.run.output_uri if self.run else None


def choose_model(
    runs: Sequence[Run], minimums: Mapping[str, float] | None, source: str
) -> Promotion:
    """The newest succeeded run of ``source`` that passes the gate (runs are newest first)."""
    rejected: list[tuple[str, str]] = []
    for run in runs:
        if run.phase is not Phase.SUCCEEDED:
            if run.phase is Phase.FAILED:
                rejected.append((run.name, f"run failed: {run.reason}"))
            continue
        if run.output_uri is None:
            rejected.append((run.name, "run has no output URI"))
            continue
        if minimums and not run.metrics_read:
            rejected.append((run.name, "waiting for its metrics"))
            continue
        failures = gate_failures(run, minimums)
        if failures:
            rejected.append((run.name, "gate not met: " + ", ".join(failures)))
            continue
        return Promotion(run, f"serving {run.name}", tuple(rejected))
    if rejected:
        newest, why = rejected[0]
        reason = f"no run of {source} can be promoted yet; newest {newest}: {why}"
    else:
        reason = f"waiting for a succeeded run of {source}"
    return Promotion(None, reason, tuple(rejected))


def runs_to_keep(runs: Sequence[Run], history_limit: int, pinned: Iterable[str] = ()) -> set[str]:
    """Unfinished runs, the newest ``history_limit`` finished ones, and runs still served."""
    keep = {run.name for run in runs if not run.finished}
    finished = [run for run in runs if run.finished]
    keep.update(run.name for run in finished[:history_limit])
    keep.update(pinned)
    return keep


@dataclass(frozen=True)
class StepProgress:
    name: str
    run_name: str
    phase: Phase  # Pending, Progressing, Succeeded, Failed or Blocked
    reason: str
    startable: bool  # upstreams succeeded and no run of this hash exists yet
    run: Run | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", Phase(self.phase))


def pipeline_progress(
    order: Sequence[tuple[str, Sequence[str]]],
    run_names: Mapping[str, str],
    runs: Mapping[str, Run],
) -> list[StepProgress]:
    """Each step's state given ``(step, upstreams)`` in topological order and current runs.

    ``run_names`` maps a step to the run name of its current hash; ``runs`` maps run names to
    the runs that exist. A step starts only when every upstream run has succeeded; a failed or
    blocked upstream blocks everything downstream of it.
    """
    by_step: dict[str, StepProgress] = {}
    for step, upstreams in order:
        name = run_names[step]
        run = runs.get(name)
        if run is not None:
            progress = StepProgress(step, name, run.phase, run.reason, False, run)
        else:
            upstream_states = [by_step[up] for up in upstreams]
            stuck = [up for up in upstream_states if up.phase in (Phase.FAILED, Phase.BLOCKED)]
            waiting = [up.name for up in upstream_states if up.phase is not Phase.SUCCEEDED]
            if stuck:
                progress = StepProgress(
                    step, name, Phase.BLOCKED, f"upstream step {stuck[0].name} failed", False, None
                )
            elif waiting:
                progress = StepProgress(
                    step, name, Phase.PENDING, f"waiting for {', '.join(waiting)}", False, None
                )
            else:
                progress = StepProgress(step, name, Phase.PENDING, "starting", True, None)
        by_step[step] = progress
    return [by_step[step] for step, _ in order]
