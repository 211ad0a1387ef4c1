"""The spec language: pydantic models of every kind users write (DESIGN.md, "Spec format").

YAML uses camelCase; Python attributes are snake_case (``from_training`` <-> ``fromTraining``).
Unknown fields are rejected everywhere, so a typo is an error rather than a silent default.
Rules that need more than one spec (references, duplicates, allowed namespaces) live in
``reconciler.specs.rules``; everything decidable from one document lives here, one module per
kind (``serving``, ``training``, ``pipeline``) over the shared field types of ``common`` and
the repository configuration of ``repository``. Import from this package, not its modules.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from reconciler.specs.models.common import (
    API_GROUP_PREFIX,
    API_VERSION,
    DNS_LABEL,
    MAX_NAME,
    ConfigMapEnv,
    EnvValue,
    Name,
    PodSecurity,
    Resources,
    SecretEnv,
    duration_seconds,
)
from reconciler.specs.models.pipeline import Pipeline, PipelineSpec, PipelineStep
from reconciler.specs.models.repository import RepoConfig, TenancyLimits
from reconciler.specs.models.serving import (
    ModelDeployment,
    ModelDeploymentSpec,
    ModelFormat,
    ModelSource,
    Runtime,
)
from reconciler.specs.models.training import (
    DEFAULT_TRAINING_RUNTIME,
    Backend,
    TrainingJob,
    TrainingJobSpec,
    hyperparameter_env_name,
)

Spec = Annotated[ModelDeployment | TrainingJob | Pipeline, Field(discriminator="kind")]
SPEC_ADAPTER: TypeAdapter[ModelDeployment | TrainingJob | Pipeline] = TypeAdapter(Spec)
SPEC_KINDS = ("ModelDeployment", "TrainingJob", "Pipeline")
AnySpec = ModelDeployment | TrainingJob | Pipeline

__all__ = [
    "API_GROUP_PREFIX",
    "API_VERSION",
    "DEFAULT_TRAINING_RUNTIME",
    "DNS_LABEL",
    "MAX_NAME",
    "SPEC_ADAPTER",
    "SPEC_KINDS",
    "AnySpec",
    "Backend",
    "ConfigMapEnv",
    "EnvValue",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelFormat",
    "ModelSource",
    "Name",
    "Pipeline",
    "PipelineSpec",
    "PipelineStep",
    "PodSecurity",
    "RepoConfig",
    "Resources",
    "Runtime",
    "SecretEnv",
    "Spec",
    "TenancyLimits",
    "TrainingJob",
    "TrainingJobSpec",
    "duration_seconds",
    "hyperparameter_env_name",
]
