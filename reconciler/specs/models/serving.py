"""``kind: ModelDeployment``: a model served on Kubernetes, its source, scaling and canary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from reconciler.specs.models.analysis import Analysis
from reconciler.specs.models.common import (
    Adopt,
    Env,
    Metadata,
    Name,
    Resources,
    Security,
    Strict,
    check_uri,
    fail_at,
    unset,
)

# Serving objects add suffixes such as "-canary" and KServe's "-predictor-<revision>".
MAX_SERVING_NAME = 40


class TrainingRef(Strict):
    name: Name


class PipelineRef(Strict):
    name: Name
    step: Name
    output: str | None = None


class ModelSource(Strict):
    """Where the served model comes from: exactly one of a URI, a training spec or a step."""

    uri: str | None = None
    from_training: TrainingRef | None = None
    from_pipeline: PipelineRef | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return None if value is None else check_uri("model", value)

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        given = [x for x in (self.uri, self.from_training, self.from_pipeline) if x is not None]
        if len(given) != 1:
            raise ValueError("exactly one of uri, fromTraining or fromPipeline is required")
        return self

    @property
    def is_trained(self) -> bool:
        return self.uri is None


class Autoscaling(Strict):
    min_replicas: int = Field(default=1, ge=1, strict=True)
    max_replicas: int = Field(ge=1, strict=True)
    # DESIGN.md spells it like the HPA field it becomes, not as the camel-case generator would.
    target_cpu_utilization_percentage: int = Field(
        default=80, ge=1, le=100, strict=True, alias="targetCPUUtilizationPercentage"
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        return self


class Canary(Strict):
    model: ModelSource
    # Unset only with an analysis, whose steps set the traffic; left out of dumps then.
    traffic_percent: int | None = Field(default=None, ge=0, le=100, strict=True, exclude_if=unset)
    analysis: Analysis | None = Field(default=None, exclude_if=unset)

    @model_validator(mode="after")
    def _traffic(self) -> Canary:
        if (self.traffic_percent is None) == (self.analysis is None):
            fail_at(("trafficPercent",), "set exactly one of trafficPercent and analysis", None)
        return self

    @property
    def first_percent(self) -> int:
        """The traffic a new canary starts with: the fixed split, or the analysis' first step."""
        return self.traffic_percent if self.analysis is None else self.analysis.steps[0]

    @property
    def peak_percent(self) -> int:
        """The most traffic the canary is given short of promotion."""
        return self.traffic_percent if self.analysis is None else self.analysis.steps[-1]


class Promotion(Strict):
    metrics: dict[str, float] = Field(min_length=1)


Runtime = Literal["deployment", "kserve", "seldon"]
ModelFormat = Literal[
    "sklearn", "xgboost", "pytorch", "onnx", "tensorflow", "huggingface", "custom"
]


class ModelDeploymentSpec(Strict):
    model: ModelSource
    runtime: Runtime = "deployment"
    format: ModelFormat = "custom"
    image: str | None = None
    replicas: int | None = Field(default=None, ge=0, le=1000, strict=True)
    autoscaling: Autoscaling | None = None
    resources: Resources = Field(default_factory=Resources)
    env: Env = Field(default_factory=dict)
    port: int = Field(default=8080, ge=1, le=65535, strict=True)
    canary: Canary | None = None
    promotion: Promotion | None = None
    adopt: Adopt = False
    security: Security = None

    @model_validator(mode="after")
    def _rules(self) -> ModelDeploymentSpec:
        if self.image is None and (self.runtime == "deployment" or self.format == "custom"):
            fail_at(
                ("image",),
                "image is required for the deployment runtime and for the custom format",
                None,
            )
        if self.replicas is not None and self.autoscaling is not None:
            fail_at(("autoscaling",), "set either replicas or autoscaling, not both", None)
        if self.promotion is not None and not self.model.is_trained:
            fail_at(
                ("promotion",),
                "promotion gates need model.fromTraining or model.fromPipeline",
                None,
            )
        return self


class ModelDeployment(Strict):
    api_version: Literal["mlops/v1alpha1"]
    kind: Literal["ModelDeployment"]
    metadata: Metadata
    spec: ModelDeploymentSpec

    @model_validator(mode="after")
    def _name_length(self) -> ModelDeployment:
        if len(self.metadata.name) > MAX_SERVING_NAME:
            fail_at(
                ("metadata", "name"),
                f"must be at most {MAX_SERVING_NAME} characters for a "
                "ModelDeployment (serving objects add suffixes such as -canary)",
                self.metadata.name,
            )
        return self
