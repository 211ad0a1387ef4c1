"""What every training backend shares: the run's name, metadata, env and arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler import labels
from reconciler.render.common import (
    TERMINATION_POLICY,
    RenderContext,
    container,
    env_list,
    hyperparameter_args,
    hyperparameter_env,
    identity_labels,
    metadata,
    pod_security,
)
from reconciler.render.identity import canonical_json, run_hash, run_name
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import TrainingJob

if TYPE_CHECKING:
    from reconciler.sweep.trials import Trial


def expand_run(uri: str, run: str) -> str:
    return uri.replace("{run}", run)


def run_output_uri(training: TrainingJob) -> str | None:
    """Where the current run of ``training`` writes its model; None without spec.output."""
    output = training.spec.output
    if output is None:
        return None
    return expand_run(output.uri, run_name(training.metadata.name, run_hash(training)))


@dataclass(frozen=True)
class TrainingRun:
    """One run of a TrainingJob: the immutable object named ``<name>-<hash8>``."""

    loaded: LoadedSpec
    ctx: RenderContext
    spec: TrainingJob
    trial: Trial | None = None  # a sweep's trial: its values are merged over hyperparameters

    @property
    def hash(self) -> str:
        return run_hash(self.spec) if self.trial is None else self.trial.hash

    @property
    def name(self) -> str:
        return run_name(self.spec.metadata.name, self.hash)

    @property
    def output_uri(self) -> str | None:
        output = self.spec.spec.output
        return None if output is None else expand_run(output.uri, self.name)

    @property
    def hyperparameters(self) -> dict[str, str]:
        values = self.spec.spec.hyperparameters
        if self.trial is None:
            return values
        return {**values, **self.trial.hyperparameters}

    @property
    def backoff_limit(self) -> int:
        # The reconciler never retries a run itself, so no limit in the spec means no retries.
        limit = self.spec.spec.backoff_limit
        return 0 if limit is None else limit

    def _run_labels(self) -> dict[str, str]:
        if self.trial is None:
            return {labels.RUN_HASH: self.hash}
        return {labels.RUN_HASH: self.hash, labels.SWEEP: self.trial.sweep_id}

    def object_metadata(self) -> dict[str, Any]:
        annotations = {} if self.output_uri is None else {labels.OUTPUT_URI: self.output_uri}
        if self.trial is not None:
            annotations[labels.TRIAL] = canonical_json(self.trial.annotation()).decode()
        return metadata(self.loaded, self.ctx, self.name, self._run_labels(), annotations)

    def pod_labels(self) -> dict[str, str]:
        return {**identity_labels(self.loaded), **self._run_labels()}

    def env(self) -> list[dict]:
        spec = self.spec.spec
        system = [] if self.output_uri is None else [("OUTPUT_URI", self.output_uri)]
        return env_list(system + hyperparameter_env(self.hyperparameters), spec.env)

    def args(self) -> list[str]:
        return [*self.spec.spec.args, *hyperparameter_args(self.hyperparameters)]

    def pod_spec(self, *containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A pod spec for this run: ``fields`` (restartPolicy...), the pod-level security
        defaults, then the containers."""
        return {**fields, **pod_security(self.spec.spec.security), "containers": list(containers)}

    def container(self, name: str) -> dict[str, Any]:
        """The training container: the spec's command, args, env and resources."""
        spec = self.spec.spec
        return container(
            name,
            spec.image,
            security=spec.security,
            command=spec.command,
            args=self.args(),
            env=self.env(),
            resources=spec.resources,
            termination_policy=TERMINATION_POLICY,
        )
