"""Pure rendering of valid specs into Kubernetes manifests (DESIGN.md, "Objects in the cluster").

``render(loaded, ctx)`` is the one entry point; each backend module turns one kind of spec
into plain dicts. Nothing here reads files, the clock or the cluster: the same spec and
context give the same manifests, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler.render.common import Manifest, RenderContext
from reconciler.render.deployment import render_deployment
from reconciler.render.identity import run_hash, run_name, spec_hash, step_hashes
from reconciler.render.job import render_job
from reconciler.render.kserve import render_kserve
from reconciler.render.pipeline import render_pipeline, render_step, step_outputs
from reconciler.render.pytorchjob import render_pytorchjob
from reconciler.render.rayjob import render_rayjob
from reconciler.render.seldon import render_seldon
from reconciler.render.serving import served_models
from reconciler.render.training import TrainingRun, run_output_uri
from reconciler.render.trainjob import render_trainjob
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import ModelDeployment, ModelSource, Pipeline, TrainingJob

# A module, not a name: reconciler.sweep.trials imports this package for the run hashes.
from reconciler.sweep import trials as sweep_trials

__all__ = [
    "Manifest",
    "RenderContext",
    "render",
    "render_step",
    "run_hash",
    "run_name",
    "run_output_uri",
    "spec_hash",
    "static_resolver",
    "step_hashes",
    "step_outputs",
]

_SERVING = {"deployment": render_deployment, "kserve": render_kserve, "seldon": render_seldon}
_TRAINING = {
    "job": render_job,
    "pytorchjob": render_pytorchjob,
    "rayjob": render_rayjob,
    "trainjob": render_trainjob,
}


def render(loaded: LoadedSpec, ctx: RenderContext) -> list[Manifest]:
    """The manifests of one valid spec; [] for a ModelDeployment with no model to serve yet.

    Raises RenderError when a valid spec still cannot become manifests (an env name clash).
    """
    spec = loaded.spec
    if isinstance(spec, ModelDeployment):
        models = served_models(spec, ctx)
        if models is None:
            return []
        return _SERVING[spec.spec.runtime](loaded, ctx, spec, models)
    if isinstance(spec, TrainingJob):
        backend = _TRAINING[spec.spec.backend]
        if spec.spec.sweep is not None:
            # Every trial; which of them exist or start now is decided against the cluster.
            trials = sweep_trials.plan_sweep(spec).trials
            return [
                obj for trial in trials for obj in backend(TrainingRun(loaded, ctx, spec, trial))
            ]
        return backend(TrainingRun(loaded, ctx, spec))
    return render_pipeline(loaded, ctx, spec)


def static_resolver(
    specs: Sequence[LoadedSpec], namespace: str | None = None
) -> Callable[[ModelSource], str | None]:
    """Resolve model sources to the outputs of the *current* runs of the given specs.

    This is what the repository says, not what has run: right for ``reconciler render`` and
    previews; the engine resolves from finished runs instead. References are by name; give
    ``namespace`` to look only there, since a name used in several namespaces is ambiguous
    and resolves to None.
    """
    trainings: dict[str, list[TrainingJob]] = {}
    pipelines: dict[str, list[Pipeline]] = {}
    for loaded in specs:
        spec = loaded.spec
        if namespace is not None and loaded.key.namespace != namespace:
            continue
        if isinstance(spec, TrainingJob):
            trainings.setdefault(spec.metadata.name, []).append(spec)
        elif isinstance(spec, Pipeline):
            pipelines.setdefault(spec.metadata.name, []).append(spec)

    def resolve(source: ModelSource) -> str | None:
        if source.uri is not None:
            return source.uri
        if source.from_training is not None:
            found = trainings.get(source.from_training.name, [])
            if len(found) != 1:
                return None
            if found[0].spec.sweep is not None:
                # A preview: the best trial is known only once trials have run; show the first.
                first = sweep_trials.plan_sweep(found[0]).trials[0].name
                output = found[0].spec.output
                return None if output is None else output.uri.replace("{run}", first)
            return run_output_uri(found[0])
        if source.from_pipeline is not None:
            ref = source.from_pipeline
            found_pipelines = pipelines.get(ref.name, [])
            if len(found_pipelines) != 1:
                return None
            if ref.step not in {step.name for step in found_pipelines[0].spec.steps}:
                return None
            outputs = step_outputs(found_pipelines[0], ref.step)
            if ref.output is not None:
                return outputs.get(ref.output)
            # Without a named output the step must have exactly one.
            return next(iter(outputs.values())) if len(outputs) == 1 else None
        return None

    return resolve
