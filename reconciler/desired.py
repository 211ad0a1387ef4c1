"""What should exist in the cluster for one spec, given what already exists.

Rendering alone is not enough for ML specs: a training run is created once and then kept for
history, a pipeline step starts only when its upstream steps have succeeded, and a serving spec
fed by training serves the newest run that passes its gate. This module joins the pure renderer
with the pure lifecycle rules; it does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler import labels
from reconciler.inventory import ObjectRef
from reconciler.lifecycle import Promotion, Run, choose_model, pipeline_progress, runs_to_keep
from reconciler.phase import Phase
from reconciler.render import RenderContext, render
from reconciler.render.common import CanaryTraffic
from reconciler.specs.loaded import LoadedSpec, SpecKey
from reconciler.specs.models import ModelDeployment, ModelSource, Pipeline, TrainingJob
from reconciler.sweep.desired import sweep_desired
from reconciler.sweep.progress import promotion_order
from reconciler.sweep.report import served_trial

RunsOf = Callable[[str, str, str], list[Run]]  # (kind, namespace, name) -> runs, newest first


@dataclass(frozen=True)
class Desired:
    """``objects`` None means: touch nothing of this spec now (``reason`` says why)."""

    objects: list[dict[str, Any]] | None
    retain: frozenset[ObjectRef] = frozenset()
    waiting: str | None = None  # a reason to report Pending though objects may exist
    extra: dict[str, Any] = field(default_factory=dict)
    served_runs: tuple[tuple[str, str, str, str], ...] = ()  # (kind, ns, name, run) pinned
    # Runs a serving spec passed over: (source, run, why), reported on the run too.
    rejections: tuple[tuple[SpecKey, str, str], ...] = ()


def _refs(runs: Sequence[Run], keep: set[str], like: Sequence[Mapping[str, Any]]) -> set[ObjectRef]:
    by_name = {obj["metadata"]["name"]: obj for obj in like}
    return {ObjectRef.from_object(by_name[run.name]) for run in runs if run.name in keep}


def _promote(
    source: ModelSource,
    namespace: str,
    gate: Mapping[str, float] | None,
    runs_of: RunsOf,
) -> Promotion:
    origin = origin_of(source, namespace)
    if origin is None:
        return Promotion(None, "fixed URI")
    if source.from_training is not None:
        # A sweep serves its best trial, not its newest run.
        runs = promotion_order(runs_of(*origin))
        return choose_model(runs, gate, f"TrainingJob {origin.name}")
    ref = source.from_pipeline
    assert ref is not None
    runs = [r for r in runs_of(*origin) if r.step == ref.step]
    with_uri = []
    for run in runs:
        uri = run.outputs.get(ref.output) if ref.output else next(iter(run.outputs.values()), None)
        with_uri.append(replace(run, output_uri=uri))
    return choose_model(with_uri, gate, f"Pipeline {ref.name} step {ref.step}")


def origin_of(source: ModelSource, namespace: str) -> SpecKey | None:
    """The spec whose runs feed ``source``; None for a fixed URI."""
    if source.from_training is not None:
        return SpecKey("TrainingJob", namespace, source.from_training.name)
    if source.from_pipeline is not None:
        return SpecKey("Pipeline", namespace, source.from_pipeline.name)
    return None


def sources_of(loaded: LoadedSpec | None) -> list[SpecKey]:
    """Every spec whose runs a serving spec may serve."""
    if loaded is None or not isinstance(loaded.spec, ModelDeployment):
        return []
    body = loaded.spec.spec
    models = [body.model] + ([body.canary.model] if body.canary is not None else [])
    origins = (origin_of(model, loaded.key.namespace) for model in models)
    return [origin for origin in origins if origin is not None]


def _serving(
    loaded: LoadedSpec,
    spec: ModelDeployment,
    source_commit: str,
    runs_of: RunsOf,
    canary_traffic: CanaryTraffic | None = None,
) -> Desired:
    namespace = loaded.key.namespace
    gate = spec.spec.promotion.metrics if spec.spec.promotion else None
    stable = _promote(spec.spec.model, namespace, gate, runs_of)
    canary = (
        _promote(spec.spec.canary.model, namespace, gate, runs_of) if spec.spec.canary else None
    )
    resolved: dict[ModelSource, str | None] = {
        spec.spec.model: spec.spec.model.uri or stable.uri,
    }
    if spec.spec.canary is not None and canary is not None:
        resolved[spec.spec.canary.model] = spec.spec.canary.model.uri or canary.uri
    extra: dict[str, Any] = {}
    served: list[tuple[str, str, str, str]] = []
    rejections: list[tuple[SpecKey, str, str]] = []
    for role, promotion, source in (
        ("model", stable, spec.spec.model),
        ("canary", canary, spec.spec.canary.model if spec.spec.canary else None),
    ):
        if promotion is None or source is None:
            continue
        entry: dict[str, Any] = {"uri": resolved.get(source)}
        origin = origin_of(source, namespace)
        if gate and origin is not None:
            entry["gate"] = {name: minimum for name, minimum in sorted(gate.items())}
        if promotion.run is not None and origin is not None:
            entry["run"] = promotion.run.name
            entry["runSourceCommit"] = promotion.run.source_commit
            entry["trial"] = served_trial(promotion.run.trial, promotion.run.sweep)
            if promotion.run.metrics:
                entry["metrics"] = dict(sorted(promotion.run.metrics.items()))
            served.append((*origin, promotion.run.name))
        if origin is not None:
            rejections.extend((origin, run, why) for run, why in promotion.rejected)
        if promotion.rejected:
            entry["notPromoted"] = [{"run": n, "reason": why} for n, why in promotion.rejected[:5]]
        if role == "canary" and spec.spec.canary is not None:
            canary_share = spec.spec.canary.first_percent
            entry["trafficPercent"] = canary_traffic.percent if canary_traffic else canary_share
        extra[role] = {k: v for k, v in entry.items() if v is not None}
    if resolved[spec.spec.model] is None:
        return Desired(None, waiting=stable.reason, extra=extra, rejections=tuple(rejections))
    ctx = RenderContext(source_commit, lambda s: resolved.get(s), canary_traffic)
    return Desired(
        render(loaded, ctx),
        extra=extra,
        served_runs=tuple(served),
        rejections=tuple(rejections),
    )


def _training(
    loaded: LoadedSpec,
    spec: TrainingJob,
    source_commit: str,
    live: Sequence[dict[str, Any]],
    runs: list[Run],
    pinned: set[str],
) -> Desired:
    if spec.spec.sweep is not None:
        objects, keep, extra = sweep_desired(
            spec, render(loaded, RenderContext(source_commit, lambda s: None)), runs, pinned
        )
        return Desired(objects, retain=frozenset(_refs(runs, keep, live)), extra=extra)
    objects = render(loaded, RenderContext(source_commit, lambda s: None))
    current = {obj["metadata"]["name"] for obj in objects}
    keep = runs_to_keep(runs, spec.spec.history_limit, pinned) - current
    extra = {"runs": [run.as_status() for run in runs[: spec.spec.history_limit + 1]]}
    current_run = next((run for run in runs if run.name in current), None)
    if current_run is not None:
        extra["currentRun"] = current_run.name
    else:
        extra["currentRun"] = next(iter(current), None)
    return Desired(objects, retain=frozenset(_refs(runs, keep, live)), extra=extra)


def _pipeline(
    loaded: LoadedSpec,
    spec: Pipeline,
    source_commit: str,
    live: Sequence[dict[str, Any]],
    runs: list[Run],
    pinned: set[str],
) -> Desired:
    rendered = render(loaded, RenderContext(source_commit, lambda s: None))
    # The renderer named each step's current run: read the names back rather than hash again.
    names = {
        obj["metadata"]["labels"][labels.PIPELINE_STEP]: obj["metadata"]["name"] for obj in rendered
    }
    order = [(step.name, step.depends_on) for step in spec.spec.topological_order()]
    progress = pipeline_progress(order, names, {run.name: run for run in runs})
    wanted = {p.run_name for p in progress if p.run is not None or p.startable}
    objects = [obj for obj in rendered if obj["metadata"]["name"] in wanted]
    keep: set[str] = set()
    for step, _ in order:
        step_runs = [run for run in runs if run.step == step]
        keep |= runs_to_keep(step_runs, spec.spec.history_limit, pinned)
    keep -= set(names.values())
    steps = []
    upstream = dict(order)
    for p in progress:
        entry: dict[str, Any] = {"name": p.name, "run": p.run_name, "phase": p.phase}
        if upstream.get(p.name):
            entry["dependsOn"] = list(upstream[p.name])  # the edges of the dashboard's graph
        if p.phase not in (Phase.SUCCEEDED, Phase.PROGRESSING):
            entry["reason"] = p.reason
        if p.run is not None and p.run.metrics:
            entry["metrics"] = dict(sorted(p.run.metrics.items()))
        if p.run is not None and p.run.metrics_note:
            entry["metricsNote"] = p.run.metrics_note
        steps.append(entry)
    return Desired(objects, retain=frozenset(_refs(runs, keep, live)), extra={"steps": steps})


def desired_state(
    loaded: LoadedSpec,
    source_commit: str,
    live: Sequence[dict[str, Any]],
    runs_of: RunsOf,
    pinned: set[str] | None = None,
    canary_traffic: CanaryTraffic | None = None,
) -> Desired:
    """The objects to apply and the live ones to keep for ``loaded``, with status extras;
    ``canary_traffic``: where a canary analysis stands (reconciler.delivery)."""
    spec = loaded.spec
    key = loaded.key
    pinned = pinned or set()
    if isinstance(spec, ModelDeployment):
        return _serving(loaded, spec, source_commit, runs_of, canary_traffic)
    runs = runs_of(key.kind, key.namespace, key.name)
    if isinstance(spec, TrainingJob):
        return _training(loaded, spec, source_commit, live, runs, pinned)
    return _pipeline(loaded, spec, source_commit, live, runs, pinned)
