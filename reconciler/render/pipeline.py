"""kind Pipeline: one batch/v1 Job per step, named ``<pipeline>-<step>-<hash8>``.

A step sees the outputs of every step above it (direct or not, so an evaluation step can read
both the model and the prepared test split) as ``INPUT_<STEP>_<OUTPUT>``, and its own as
``OUTPUT_<OUTPUT>``, each with ``{run}`` expanded to the producing step's run name. Which steps
may start is the engine's business; rendering a step never depends on what has run.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import labels
from reconciler.render.common import (
    TERMINATION_POLICY,
    Manifest,
    RenderContext,
    container,
    env_list,
    env_var_suffix,
    identity_labels,
    metadata,
    pod_security,
)
from reconciler.render.identity import canonical_json, spec_hash, step_hashes, step_run_name
from reconciler.render.training import expand_run
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import Pipeline, PipelineStep

CONTAINER = "step"


def step_run_names(pipeline: Pipeline) -> dict[str, str]:
    """Each step's current run name, in topological order."""
    return _runs(pipeline, step_hashes(pipeline))


def step_outputs(pipeline: Pipeline, step: str) -> dict[str, str]:
    """A step's outputs with ``{run}`` expanded to its current run name."""
    run = step_run_names(pipeline)[step]
    by_name = {item.name: item for item in pipeline.spec.steps}
    return {output: expand_run(uri, run) for output, uri in by_name[step].outputs.items()}


@dataclass(frozen=True)
class _Steps:
    """What every step's Job reads about the others and the spec, worked out once per pipeline:
    per step, each of these is a walk over the whole pipeline."""

    order: list[PipelineStep]
    hashes: dict[str, str]
    runs: dict[str, str]
    spec_hash: str
    by_name: dict[str, PipelineStep]
    inputs: dict[str, list[tuple[str, str]]]
    """Per step, the ``INPUT_<STEP>_<OUTPUT>`` variables it gives the steps below it."""

    @classmethod
    def of(cls, pipeline: Pipeline) -> _Steps:
        hashes = step_hashes(pipeline)
        order = pipeline.spec.topological_order()
        runs = _runs(pipeline, hashes)
        inputs = {
            step.name: [
                (
                    f"INPUT_{env_var_suffix(step.name)}_{env_var_suffix(output)}",
                    expand_run(step.outputs[output], runs[step.name]),
                )
                for output in sorted(step.outputs)
            ]
            for step in order
        }
        by_name = {step.name: step for step in order}
        return cls(order, hashes, runs, spec_hash(pipeline), by_name, inputs)

    def ancestors(self, step: PipelineStep) -> list[PipelineStep]:
        """Every step ``step`` depends on, directly or not, in topological order."""
        found: set[str] = set()
        pending = list(step.depends_on)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self.by_name[name].depends_on)
        return [item for item in self.order if item.name in found]


def _runs(pipeline: Pipeline, hashes: dict[str, str]) -> dict[str, str]:
    name = pipeline.metadata.name
    return {step: step_run_name(name, step, hash8) for step, hash8 in hashes.items()}


def render_pipeline(loaded: LoadedSpec, ctx: RenderContext, pipeline: Pipeline) -> list[Manifest]:
    steps = _Steps.of(pipeline)
    return [_render_step(loaded, ctx, steps, step) for step in steps.order]


def render_step(loaded: LoadedSpec, ctx: RenderContext, step_name: str) -> Manifest:
    """The Job for one step's current run; the engine creates it once its upstreams succeed."""
    pipeline = loaded.spec
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"render_step needs a Pipeline, not a {pipeline.kind}")
    steps = _Steps.of(pipeline)
    return _render_step(loaded, ctx, steps, steps.by_name[step_name])


def _render_step(
    loaded: LoadedSpec, ctx: RenderContext, steps: _Steps, step: PipelineStep
) -> Manifest:
    hashes, runs = steps.hashes, steps.runs
    step_name = step.name
    run_labels = {labels.RUN_HASH: hashes[step_name], labels.PIPELINE_STEP: step_name}

    system: list[tuple[str, str]] = []
    for upstream in steps.ancestors(step):
        system.extend(steps.inputs[upstream.name])
    outputs = {name: expand_run(uri, runs[step_name]) for name, uri in sorted(step.outputs.items())}
    system.extend((f"OUTPUT_{env_var_suffix(name)}", uri) for name, uri in outputs.items())
    # Recorded on the run so what it produced stays known after the spec moves on.
    annotations = {labels.OUTPUTS: canonical_json(outputs).decode()} if outputs else {}

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            loaded, ctx, runs[step_name], run_labels, annotations, hashed=steps.spec_hash
        ),
        "spec": {
            # Steps are runs: the reconciler never retries one, a new run needs a new hash.
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {**identity_labels(loaded), **run_labels}},
                "spec": {
                    "restartPolicy": "Never",
                    **pod_security(step.security),
                    "containers": [
                        container(
                            CONTAINER,
                            step.image,
                            security=step.security,
                            command=step.command,
                            args=step.args,
                            env=env_list(system, step.env),
                            resources=step.resources,
                            termination_policy=TERMINATION_POLICY,
                        )
                    ],
                },
            },
        },
    }
