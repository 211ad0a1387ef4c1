"""What a spec change will do, in plain words; pure.

Each kind has its own story: serving says what it serves and how much, training says whether
a new run starts and why, a pipeline says which steps re-run and which stay cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.delivery import explain
from reconciler.diff import ABSENT, FieldChange
from reconciler.render.identity import run_hash, run_name, step_hashes
from reconciler.review.model import ObjectAction, ObjectChange, SpecChangeKind
from reconciler.review.values import number, plain
from reconciler.specs.models import (
    AnySpec,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelSource,
    Pipeline,
    TrainingJob,
)
from reconciler.sweep.narrate import sweep_story

# Fields that never define a training run (see reconciler.render.identity): naming them as the
# reason for a new run would mislead.
_BOOKKEEPING = ("historyLimit", "metadata.")


@dataclass(frozen=True)
class Story:
    change: SpecChangeKind
    base: AnySpec | None
    head: AnySpec | None
    fields: tuple[FieldChange, ...]
    objects: tuple[ObjectChange, ...]
    # Trained model sources of a ModelDeployment whose current run differs between the sides.
    switched: tuple[ModelSource, ...] = ()


def happens(story: Story) -> tuple[str, ...]:
    if story.change is SpecChangeKind.REMOVED:
        return _deletions(story.objects) or ("nothing to delete: the spec had no objects",)
    spec = story.head
    if isinstance(spec, ModelDeployment):
        lines = _serving(story, spec)
    elif isinstance(spec, TrainingJob):
        lines = _training(story, spec)
    elif isinstance(spec, Pipeline):
        lines = _pipeline(story, spec)
    else:
        lines = []
    # A sweep's trials are told by its story: they start a few at a time, and stay as history.
    sweeping = isinstance(spec, TrainingJob) and spec.spec.sweep is not None
    if story.change is SpecChangeKind.CHANGED and not sweeping:
        lines += _creations(story.objects) + _deletions(story.objects)
    return tuple(dict.fromkeys(lines))


# ---------------------------------------------------------------- serving


def _serving(story: Story, spec: ModelDeployment) -> list[str]:
    body = spec.spec
    if story.change is SpecChangeKind.ADDED:
        if not story.objects:
            return [f"nothing served yet: {_source(body.model, body)} has no output"]
        lines = [f"serves {_source(body.model, body)} on {body.runtime}, {_scale(body)}"]
        if body.canary is not None:
            lines.append(f"canary: {_canary(body)}")
        return lines
    lines = [_serving_field(change, story) for change in _spec_fields(story.fields)]
    lines = [line for line in lines if line]
    for source in story.switched:
        lines.append(f"serving switches to {_source(source, body)} {_when(body)}")
    return lines


def _serving_field(change: FieldChange, story: Story) -> str:
    path = change.path.removeprefix("spec.")
    base = story.base.spec if isinstance(story.base, ModelDeployment) else None
    head = story.head.spec if isinstance(story.head, ModelDeployment) else None
    if path.startswith("model.") and base is not None and head is not None:
        return f"model {_source(base.model, base)} -> {_source(head.model, head)}"
    if path == "canary":
        if change.after is None and base is not None and base.canary is not None:
            return "canary removed: all traffic goes to the stable model"
        if head is not None and head.canary is not None:
            return f"canary added: {_canary(head)}"
    analysed = head is not None and head.canary is not None and head.canary.analysis is not None
    if analysed and path.startswith(("canary.analysis", "canary.trafficPercent")):
        assert head is not None
        return f"canary analysis starts over: {_canary(head)}"
    if path == "canary.trafficPercent":
        return f"canary traffic {change.before}% -> {change.after}%"
    if path.startswith("canary.model.") and base and head and base.canary and head.canary:
        return (
            f"canary model {_source(base.canary.model, base)} -> {_source(head.canary.model, head)}"
        )
    if path == "promotion":
        if change.after is None:
            return "promotion gate removed"
        return f"promotion gate added: {_gate(change.after['metrics'])}"
    if path.startswith("promotion.metrics."):
        metric = path.removeprefix("promotion.metrics.")
        if change.after is ABSENT:
            return f"promotion gate on {metric} removed"
        before = "(none)" if change.before is ABSENT else f">= {number(change.before)}"
        return f"promotion gate {metric} {before} -> >= {number(change.after)}"
    return _generic(change)


def _canary(body: ModelDeploymentSpec) -> str:
    canary = body.canary
    assert canary is not None
    source = _source(canary.model, body)
    if canary.analysis is not None:
        return explain.describe(canary.analysis, source)
    return f"{canary.traffic_percent}% of traffic to {source}"


def _source(source: ModelSource, body: ModelDeploymentSpec) -> str:
    if source.uri is not None:
        return source.uri
    if source.from_training is not None:
        return f"the output of {source.from_training.name}"
    assert source.from_pipeline is not None
    ref = source.from_pipeline
    output = f" ({ref.output})" if ref.output else ""
    return f"the output of {ref.name} step {ref.step}{output}"


def _when(body: ModelDeploymentSpec) -> str:
    if body.promotion is None:
        return "when its next run succeeds"
    return f"when its next run passes {_gate(body.promotion.metrics)}"


def _gate(metrics: dict[str, float]) -> str:
    return " and ".join(f"{name} >= {number(value)}" for name, value in sorted(metrics.items()))


def _scale(body: ModelDeploymentSpec) -> str:
    if body.autoscaling is not None:
        scaling = body.autoscaling
        return f"autoscaling {scaling.min_replicas}-{scaling.max_replicas} replicas"
    replicas = 1 if body.replicas is None else body.replicas
    return f"{replicas} replica{'s' if replicas != 1 else ''}"


# ---------------------------------------------------------------- training


def _training(story: Story, spec: TrainingJob) -> list[str]:
    if spec.spec.sweep is not None:
        base = story.base if isinstance(story.base, TrainingJob) else None
        details = [_generic(change) for change in _spec_fields(story.fields)]
        return sweep_story(base, spec) + details
    new = run_hash(spec)
    if story.change is SpecChangeKind.ADDED:
        return [f"new training run {run_name(spec.metadata.name, new)} (hash {new})"]
    details = [_generic(change) for change in _spec_fields(story.fields)]
    if not isinstance(story.base, TrainingJob) or run_hash(story.base) == new:
        return [f"no new training run (hash {new} unchanged)", *details]
    old = run_hash(story.base)
    reasons = [
        change.path.removeprefix("spec.")
        for change in story.fields
        if not change.path.removeprefix("spec.").startswith(_BOOKKEEPING)
    ]
    because = f" because {', '.join(dict.fromkeys(reasons))} changed" if reasons else ""
    return [f"new training run (hash {new} replaces {old}){because}", *details]


# ---------------------------------------------------------------- pipelines


def _pipeline(story: Story, spec: Pipeline) -> list[str]:
    order = [step.name for step in spec.spec.topological_order()]
    if story.change is SpecChangeKind.ADDED:
        return [f"new pipeline run: steps {', '.join(order)}"]
    head_hashes = step_hashes(spec)
    base_hashes = step_hashes(story.base) if isinstance(story.base, Pipeline) else {}
    rerun = [name for name in order if base_hashes.get(name) != head_hashes[name]]
    cached = [name for name in order if name not in rerun]
    lines = []
    if not rerun:
        lines.append("no pipeline step re-runs")
    else:
        noun = "steps" if len(rerun) > 1 else "step"
        verb = "re-run" if len(rerun) > 1 else "re-runs"
        kept = f" ({', '.join(cached)} cached)" if cached else ""
        lines.append(f"pipeline {noun} {', '.join(rerun)} {verb}{kept}")
    lines += [f"step {name} removed" for name in base_hashes if name not in head_hashes]
    lines += [_generic(change) for change in _spec_fields(story.fields)]
    return lines


# ---------------------------------------------------------------- shared


def _spec_fields(fields: Sequence[FieldChange]) -> list[FieldChange]:
    return [change for change in fields if change.path.startswith(("spec.", "metadata.labels"))]


def _generic(change: FieldChange) -> str:
    path = change.path.removeprefix("spec.")
    if path.startswith("metadata.labels"):
        path = "label " + path.removeprefix("metadata.labels").lstrip(".")
    elif path.startswith("env.") or path.startswith("env["):
        path = "env " + path.removeprefix("env").lstrip(".")
    if change.before is ABSENT or change.before is None:
        return f"{path} added: {plain(change.after)}"
    if change.after is ABSENT or change.after is None:
        return f"{path} removed (was {plain(change.before)})"
    return f"{path} {plain(change.before)} -> {plain(change.after)}"


def _creations(objects: Sequence[ObjectChange]) -> list[str]:
    return [
        f"{obj.kind} {obj.name} will be created"
        for obj in objects
        if obj.action is ObjectAction.CREATE
    ]


def _deletions(objects: Sequence[ObjectChange]) -> list[str]:
    return [
        f"{obj.kind} {obj.name} will be deleted"
        for obj in objects
        if obj.action is ObjectAction.DELETE
    ]
