"""The spec language: pydantic models of every kind users write (DESIGN.md, "Spec format").

YAML uses camelCase; Python attributes are snake_case (``from_training`` <-> ``fromTraining``).
Unknown fields are rejected everywhere, so a typo is an error rather than a silent default.
Rules that need more than one spec (references, duplicates, allowed namespaces) live in
``reconciler.specs.rules``; everything decidable from one document lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from reconciler import quantity
from reconciler.specs.analysis import Analysis
from reconciler.specs.sweep import Sweep

API_VERSION = "mlops/v1alpha1"
API_GROUP_PREFIX = "mlops/"

# Object names derived from spec names must stay within the 63-character label limit:
# training runs are "<name>-<hash8>", serving adds suffixes such as "-canary" and KServe's
# "-predictor-<revision>", pipeline steps are "<pipeline>-<step>-<hash8>".
HASH_SUFFIX_LENGTH = 9
MAX_TRAINING_NAME = 63 - HASH_SUFFIX_LENGTH
MAX_SERVING_NAME = 40
MAX_PIPELINE_STEP_JOB = 63 - HASH_SUFFIX_LENGTH
MAX_NAME = 63

# Always used with fullmatch: with match, "$" also matches before a trailing newline, so
# "evil\n" would pass as a name and reach object names and status file paths.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
HYPERPARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
OUTPUT_NAME = re.compile(r"[a-z][a-z0-9_-]*")
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
URI_SCHEMES = ("s3://", "gs://", "pvc://", "http://", "https://", "hf://")
ADOPT = (
    "take over objects that already exist with the names this spec renders, made by a person or "
    "another tool; without it such a spec fails with NotOwned and writes nothing "
    "(docs/ownership.md)"
)


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


def _fail(loc: tuple[str | int, ...], message: str, value: Any) -> NoReturn:
    """Fail a model check at ``loc`` (YAML spelling, relative to the model) so the error
    points at the offending field rather than at the whole model."""
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    raise ValidationError.from_exception_data(
        "spec", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


def _stringify_scalar(value: Any) -> Any:
    """People write ``lr: 0.01`` and ``debug: true``; Kubernetes wants strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _dns_label(value: str) -> str:
    if not DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} must be a DNS-1035 label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    if len(value) > MAX_NAME:
        raise ValueError(f"{value!r} is longer than {MAX_NAME} characters")
    return value


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2 or 4Gi")
    try:
        return quantity.canonical(value)
    except quantity.QuantityError as exc:
        raise ValueError(str(exc)) from None


# json_schema_input_type: what YAML may hold before the validator turns it into a string.
Quantity = Annotated[str, BeforeValidator(_quantity, json_schema_input_type=str | int | float)]
Name = Annotated[str, AfterValidator(_dns_label)]
Scalar = Annotated[
    str, BeforeValidator(_stringify_scalar, json_schema_input_type=str | int | float | bool)
]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


def duration_seconds(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``1h30m`` -> seconds."""
    match = DURATION.fullmatch(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m or 2h")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class Metadata(Strict):
    name: Name
    namespace: Name | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not LABEL_KEY.fullmatch(key) or len(key.rsplit("/", 1)[-1]) > 63:
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
            if key.startswith(("mlops/", "app.kubernetes.io/managed-by")):
                raise ValueError(f"label key {key!r} is reserved for the reconciler")
            if not LABEL_VALUE.fullmatch(item) or len(item) > 63:
                raise ValueError(f"label value {item!r} is not a valid Kubernetes label value")
        return value


# ---------------------------------------------------------------- shared shapes


class KeyRef(Strict):
    name: NonEmpty
    key: NonEmpty


class SecretEnv(Strict):
    secret_key_ref: KeyRef


class ConfigMapEnv(Strict):
    config_map_key_ref: KeyRef


def _env_kind(value: Any) -> str | None:
    """Which shape an env value has, so a mistake in one shape is reported only for it."""
    if isinstance(value, SecretEnv | ConfigMapEnv):
        return type(value).__name__
    if not isinstance(value, dict):
        return "str"
    if "secretKeyRef" in value or "secret_key_ref" in value:
        return "SecretEnv"
    if "configMapKeyRef" in value or "config_map_key_ref" in value:
        return "ConfigMapEnv"
    return None


EnvValue = Annotated[
    Annotated[str, Tag("str")]
    | Annotated[SecretEnv, Tag("SecretEnv")]
    | Annotated[ConfigMapEnv, Tag("ConfigMapEnv")],
    Discriminator(
        _env_kind,
        custom_error_type="env_value",
        custom_error_message="must be a string, a secretKeyRef or a configMapKeyRef",
    ),
    BeforeValidator(
        _stringify_scalar,
        json_schema_input_type=str | int | float | bool | SecretEnv | ConfigMapEnv,
    ),
]


# Variables the renderer sets itself: a spec that sets them would be silently overridden.
RESERVED_ENV = frozenset({"MODEL_URI", "OUTPUT_URI", "STORAGE_URI"})
RESERVED_ENV_PREFIXES = ("HP_", "INPUT_", "OUTPUT_")


def _check_env(env: dict[str, Any]) -> dict[str, Any]:
    for name in env:
        if not ENV_NAME.fullmatch(name):
            raise ValueError(
                f"environment variable name {name!r} must match [A-Za-z_][A-Za-z0-9_]*"
            )
        if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
            raise ValueError(
                f"environment variable {name!r} is set by the reconciler "
                f"({', '.join(sorted(RESERVED_ENV))} and the prefixes "
                f"{', '.join(RESERVED_ENV_PREFIXES)} are reserved)"
            )
    return env


Env = Annotated[dict[str, EnvValue], AfterValidator(_check_env)]


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


class Resources(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: int = Field(default=0, ge=0, le=64, strict=True)


CAPABILITY = re.compile(r"[A-Z][A-Z0-9_]*")


def _capability(value: str) -> str:
    if value.startswith("CAP_"):
        raise ValueError(f"write capability {value!r} without the CAP_ prefix, as Kubernetes does")
    if not CAPABILITY.fullmatch(value) or value == "ALL":
        raise ValueError(
            f"{value!r} is not a Linux capability name such as NET_ADMIN or SYS_PTRACE"
        )
    return value


Capability = Annotated[str, AfterValidator(_capability)]


class PodSecurity(Strict):
    """Opt-outs from the secure pod defaults, one field each (docs/pod-security.md).

    Every rendered pod runs without privilege escalation, with all capabilities dropped, the
    runtime's default seccomp profile and no service-account token; a workload that needs one
    of those back says so here, and the rest stay.
    """

    allow_privilege_escalation: bool = Field(
        default=False,
        strict=True,
        description="allow setuid binaries and the like to gain privileges",
    )
    capabilities: list[Capability] = Field(
        default_factory=list,
        description="capabilities added back after dropping all, e.g. SYS_PTRACE for profilers",
    )
    seccomp_profile: Literal["RuntimeDefault", "Unconfined"] = Field(
        default="RuntimeDefault", description="Unconfined turns off system-call filtering"
    )
    service_account_token: bool = Field(
        default=False,
        strict=True,
        description="mount the namespace's default service-account token into the pods",
    )
    run_as_non_root: bool = Field(
        default=False,
        strict=True,
        description="refuse to start containers whose image runs as root (off by default: "
        "many ML images do)",
    )

    @field_validator("capabilities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        doubled = sorted({name for name in value if value.count(name) > 1})
        if doubled:
            raise ValueError(f"capability {doubled[0]!r} is listed twice")
        return value


def _unset(value: Any) -> bool:
    return value is None


def _off(value: Any) -> bool:
    """A switch left at its default is left out of dumps: adding it changed no spec hash."""
    return value is False


# An absent security block is left out of dumps, so adding the field changed no spec or run hash.
Security = Annotated[
    PodSecurity | None,
    Field(
        default=None,
        exclude_if=_unset,
        description="opt-outs from the secure pod defaults (docs/pod-security.md)",
    ),
]


# ---------------------------------------------------------------- serving


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
        if value is not None and not value.startswith(URI_SCHEMES):
            raise ValueError(f"model URI {value!r} must start with one of {', '.join(URI_SCHEMES)}")
        return value

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
    traffic_percent: int | None = Field(default=None, ge=0, le=100, strict=True, exclude_if=_unset)
    analysis: Analysis | None = Field(default=None, exclude_if=_unset)

    @model_validator(mode="after")
    def _traffic(self) -> Canary:
        if (self.traffic_percent is None) == (self.analysis is None):
            _fail(("trafficPercent",), "set exactly one of trafficPercent and analysis", None)
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
    adopt: bool = Field(default=False, strict=True, description=ADOPT, exclude_if=_off)
    security: Security = None

    @model_validator(mode="after")
    def _rules(self) -> ModelDeploymentSpec:
        if self.image is None and (self.runtime == "deployment" or self.format == "custom"):
            _fail(
                ("image",),
                "image is required for the deployment runtime and for the custom format",
                None,
            )
        if self.replicas is not None and self.autoscaling is not None:
            _fail(("autoscaling",), "set either replicas or autoscaling, not both", None)
        if self.promotion is not None and not self.model.is_trained:
            _fail(
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
            _fail(
                ("metadata", "name"),
                f"must be at most {MAX_SERVING_NAME} characters for a "
                "ModelDeployment (serving objects add suffixes such as -canary)",
                self.metadata.name,
            )
        return self


# ---------------------------------------------------------------- training

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


class Output(Strict):
    uri: str

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not value.startswith(URI_SCHEMES):
            raise ValueError(
                f"output URI {value!r} must start with one of {', '.join(URI_SCHEMES)}"
            )
        return value


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
        exclude_if=_unset,
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
    adopt: bool = Field(default=False, strict=True, description=ADOPT, exclude_if=_off)
    run_trigger: Scalar | None = None
    security: Security = None
    sweep: Sweep | None = Field(
        default=None,
        exclude_if=_unset,
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
                _fail(("sweep", "parameters"), str(exc), None)
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
            _fail(
                ("workers",),
                "workers > 1 needs a distributed backend (pytorchjob, rayjob or trainjob)",
                self.workers,
            )
        if self.backend == "rayjob" and not self.command:
            _fail(
                ("backend",),
                "the rayjob backend needs a command (it is the Ray entrypoint)",
                self.backend,
            )
        if self.training_runtime is not None and self.backend != "trainjob":
            _fail(
                ("trainingRuntime",),
                "trainingRuntime applies to the trainjob backend only",
                self.training_runtime,
            )
        if self.backoff_limit is not None and self.backend == "trainjob":
            _fail(
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
            _fail(
                ("metadata", "name"),
                f"must be at most {MAX_TRAINING_NAME} characters for a "
                "TrainingJob (runs are named <name>-<hash8>)",
                self.metadata.name,
            )
        return self


# ---------------------------------------------------------------- pipelines


class PipelineStep(Strict):
    name: Name
    image: NonEmpty
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    depends_on: list[str] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    security: Security = None

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, uri in value.items():
            if not OUTPUT_NAME.fullmatch(name):
                raise ValueError(f"output name {name!r} must match [a-z][a-z0-9_-]*")
            if not uri.startswith(URI_SCHEMES):
                raise ValueError(
                    f"output URI {uri!r} must start with one of {', '.join(URI_SCHEMES)}"
                )
        return value


class PipelineSpec(Strict):
    steps: list[PipelineStep] = Field(min_length=1)
    run_trigger: Scalar | None = None
    history_limit: int = Field(default=3, ge=1, le=100, strict=True)
    adopt: bool = Field(default=False, strict=True, description=ADOPT, exclude_if=_off)

    @model_validator(mode="after")
    def _dag(self) -> PipelineSpec:
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.name in seen:
                _fail(("steps", index, "name"), f"step name {step.name!r} is used twice", step.name)
            seen.add(step.name)
        for index, step in enumerate(self.steps):
            for position, upstream in enumerate(step.depends_on):
                loc = ("steps", index, "dependsOn", position)
                if upstream not in seen:
                    _fail(loc, f"step {step.name!r} depends on unknown step {upstream!r}", upstream)
                if upstream == step.name:
                    _fail(loc, f"step {step.name!r} depends on itself", upstream)
        cycle = find_cycle({step.name: step.depends_on for step in self.steps})
        if cycle:
            index = next(i for i, step in enumerate(self.steps) if step.name == cycle[0])
            position = self.steps[index].depends_on.index(cycle[1])
            _fail(
                ("steps", index, "dependsOn", position),
                "steps form a cycle: " + " -> ".join(cycle),
                cycle[1],
            )
        return self

    def topological_order(self) -> list[PipelineStep]:
        """Steps ordered so every step comes after its upstreams; ties keep file order."""
        by_name = {step.name: step for step in self.steps}
        done: list[str] = []
        remaining = [step.name for step in self.steps]
        while remaining:
            for name in remaining:
                if all(dep in done for dep in by_name[name].depends_on):
                    done.append(name)
                    remaining.remove(name)
                    break
        return [by_name[name] for name in done]


def find_cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """A cycle in ``node -> dependencies`` as a closed path of names, or [] when acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


class Pipeline(Strict):
    api_version: Literal["mlops/v1alpha1"]
    kind: Literal["Pipeline"]
    metadata: Metadata
    spec: PipelineSpec

    @model_validator(mode="after")
    def _name_length(self) -> Pipeline:
        for step in self.spec.steps:
            if len(self.metadata.name) + 1 + len(step.name) > MAX_PIPELINE_STEP_JOB:
                _fail(
                    ("metadata", "name"),
                    f"plus step name {step.name!r} must be at most "
                    f"{MAX_PIPELINE_STEP_JOB - 1} characters (step runs are "
                    "<pipeline>-<step>-<hash8>)",
                    self.metadata.name,
                )
        return self


# ---------------------------------------------------------------- repository config


class TenancyLimits(Strict):
    """What the specs of one repository may ask for; None means no limit.

    ``reconciler.yaml`` sets them; the operator running the reconciler may set them too, and
    the tighter of the two applies (``reconciler.specs.rules``), so a repository can never
    loosen what it was given. How GPUs are counted: ``rules.gpu_demand`` and docs/tenancy.md.
    """

    allowed_namespaces: list[Name] | None = Field(
        default=None, description="namespaces specs may use; unset: any"
    )
    allowed_backends: list[Backend] | None = Field(
        default=None, description="TrainingJob backends specs may use; unset: any"
    )
    allowed_runtimes: list[Runtime] | None = Field(
        default=None, description="ModelDeployment runtimes specs may use; unset: any"
    )
    max_gpus_per_spec: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="GPUs one spec may request at once (docs/tenancy.md); unset: no limit",
    )
    max_gpus_per_repository: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="GPUs all specs together may request; unset: no limit",
    )


class RepoConfig(TenancyLimits):
    """``reconciler.yaml`` at the repository root; every field optional."""

    default_namespace: Name = "default"
    ignore: list[str] = Field(default_factory=list)
    status_branch: str = "status"

    @model_validator(mode="after")
    def _default_allowed(self) -> RepoConfig:
        allowed = self.allowed_namespaces
        if allowed is not None and self.default_namespace not in allowed:
            _fail(
                ("defaultNamespace",),
                f"{self.default_namespace!r} is not in allowedNamespaces",
                self.default_namespace,
            )
        return self


Spec = Annotated[ModelDeployment | TrainingJob | Pipeline, Field(discriminator="kind")]
SPEC_ADAPTER: TypeAdapter[ModelDeployment | TrainingJob | Pipeline] = TypeAdapter(Spec)
SPEC_KINDS = ("ModelDeployment", "TrainingJob", "Pipeline")
AnySpec = ModelDeployment | TrainingJob | Pipeline
