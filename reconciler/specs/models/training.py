"""``kind: TrainingJob``: a training run to completion on one of the training backends."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from reconciler.specs.models.common import (
    HASH_SUFFIX_LENGTH,
    Adopt,
    Env,
    Metadata,
    NonEmpty,
    Resources,
    Scalar,
    Security,
    Strict,
    check_uri,
    duration_seconds,
    fail_at,
    unset,
)
from reconciler.specs.models.sweep import Sweep

# Runs are named "<name>-<hash8>".
MAX_TRAINING_NAME = 63 - HASH_SUFFIX_LENGTH
HYPERPARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

Backend = Literal["job", "pytorchjob", "rayjob", "trainjob"]
# Kubeflow Trainer v2's ClusterTrainingRuntime for PyTorch, which the trainjob backend uses unless
# the spec names another.
DEFAULT_TRAINING_RUNTIME = "torch-distributed"
# A Kubernetes object name (DNS-1123 subdomain): Kubeflow's runtimes include dotted ones such as
# torchtune-llama3.2-1b.
OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _object_name(value: str) -> str:
    if len(value) > 253 or not OBJECT_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} must be a Kubernetes object name: lower-case letters, digits, '-' and '.'"
        )
    return value


RuntimeName = Annotated[str, AfterValidator(_object_name)]


def hyperparameter_env_name(name: str) -> str:
    """``learning-rate`` -> ``HP_LEARNING_RATE``: how a hyperparameter reaches the container."""
    return "HP_" + re.sub(r"[-.]", "_", name).upper()


def check_hyperparameter_names(names: Iterable[str]) -> None:
    """Names must be valid and distinct once they become ``HP_*`` variables."""
    seen: dict[str, str] = {}
    for name in names:
        if not HYPERPARAMETER_NAME.fullmatch(name):
            raise ValueError(f"hyperparameter name {name!r} must match [A-Za-z_][A-Za-z0-9_.-]*")
        env_name = hyperparameter_env_name(name)
        if env_name in seen:
            raise ValueError(
                f"hyperparameters {seen[env_name]!r} and {name!r} both become {env_name}"
            )
        seen[env_name] = name


class Output(Strict):
    uri: str

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return check_uri("output", value)


class TrainingJobSpec(Strict):
    image: NonEmpty
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    backend: Backend = "job"
    # Unset is left out of dumps, so adding the field changed no spec or run hash.
    training_runtime: RuntimeName | None = Field(
        default=None,
        exclude_if=unset,
        description=(
            "the Kubeflow Trainer ClusterTrainingRuntime a trainjob run uses "
            f"(default {DEFAULT_TRAINING_RUNTIME}); only for backend trainjob"
        ),
    )
    workers: int = Field(default=1, ge=1, le=1000, strict=True)
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
    output: Output | None = None
    backoff_limit: int | None = Field(default=None, ge=0, le=100, strict=True)
    timeout: str | None = None
    history_limit: int = Field(default=3, ge=1, le=100, strict=True)
    adopt: Adopt = False
    run_trigger: Scalar | None = None
    security: Security = None
    sweep: Sweep | None = Field(
        default=None,
        exclude_if=unset,
        description="run trials over a hyperparameter search space (docs/sweeps.md)",
    )

    @field_validator("hyperparameters")
    @classmethod
    def _hyperparameters(cls, value: dict[str, str]) -> dict[str, str]:
        check_hyperparameter_names(value)
        return value

    @model_validator(mode="after")
    def _sweep(self) -> TrainingJobSpec:
        if self.sweep is not None:
            try:
                # A sweep parameter may override a hyperparameter of the same name.
                names = dict.fromkeys([*self.hyperparameters, *self.sweep.parameters])
                check_hyperparameter_names(names)
            except ValueError as exc:
                fail_at(("sweep", "parameters"), str(exc), None)
        return self

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | None) -> str | None:
        if value is not None and duration_seconds(value) <= 0:
            raise ValueError("timeout must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _workers(self) -> TrainingJobSpec:
        if self.workers > 1 and self.backend == "job":
            fail_at(
                ("workers",),
                "workers > 1 needs a distributed backend (pytorchjob, rayjob or trainjob)",
                self.workers,
            )
        if self.backend == "rayjob" and not self.command:
            fail_at(
                ("backend",),
                "the rayjob backend needs a command (it is the Ray entrypoint)",
                self.backend,
            )
        if self.training_runtime is not None and self.backend != "trainjob":
            fail_at(
                ("trainingRuntime",),
                "trainingRuntime applies to the trainjob backend only",
                self.training_runtime,
            )
        if self.backoff_limit is not None and self.backend == "trainjob":
            fail_at(
                ("backoffLimit",),
                "the trainjob backend takes its retry policy from the training runtime",
                self.backoff_limit,
            )
        return self

    @property
    def timeout_seconds(self) -> int | None:
        return None if self.timeout is None else duration_seconds(self.timeout)


class TrainingJob(Strict):
    api_version: Literal["mlops/v1alpha1"]
    kind: Literal["TrainingJob"]
    metadata: Metadata
    spec: TrainingJobSpec

    @model_validator(mode="after")
    def _name_length(self) -> TrainingJob:
        if len(self.metadata.name) > MAX_TRAINING_NAME:
            fail_at(
                ("metadata", "name"),
                f"must be at most {MAX_TRAINING_NAME} characters for a "
                "TrainingJob (runs are named <name>-<hash8>)",
                self.metadata.name,
            )
        return self
