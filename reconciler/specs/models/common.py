"""What every spec kind is built from: the base model, metadata and the shared field types.

The field types here (names, quantities, durations, env, resources, pod security) mean the same
in every kind that uses them (DESIGN.md, "Shared shapes"); the kinds themselves live in
``serving``, ``training`` and ``pipeline``.
"""

from __future__ import annotations

import re
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
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from reconciler import quantity

API_VERSION = "mlops/v1alpha1"
API_GROUP_PREFIX = "mlops/"

# Object names derived from spec names must stay within the 63-character label limit: each kind
# bounds its own names by what it appends (training runs "<name>-<hash8>", serving suffixes such
# as "-canary" and KServe's "-predictor-<revision>", pipeline steps "<pipeline>-<step>-<hash8>").
HASH_SUFFIX_LENGTH = 9
MAX_NAME = 63

# Always used with fullmatch: with match, "$" also matches before a trailing newline, so
# "evil\n" would pass as a name and reach object names and status file paths.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
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


def fail_at(loc: tuple[str | int, ...], message: str, value: Any) -> NoReturn:
    """Fail a model check at ``loc`` (YAML spelling, relative to the model) so the error
    points at the offending field rather than at the whole model."""
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    raise ValidationError.from_exception_data(
        "spec", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


def unset(value: Any) -> bool:
    """For ``exclude_if``: an optional field left unset stays out of dumps, so adding one
    changed no spec or run hash."""
    return value is None


def _off(value: Any) -> bool:
    """A switch left at its default is left out of dumps: adding it changed no spec hash."""
    return value is False


Adopt = Annotated[bool, Field(default=False, strict=True, description=ADOPT, exclude_if=_off)]


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


def check_uri(what: str, value: str) -> str:
    if not value.startswith(URI_SCHEMES):
        raise ValueError(f"{what} URI {value!r} must start with one of {', '.join(URI_SCHEMES)}")
    return value


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


# ---------------------------------------------------------------- env


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


# ---------------------------------------------------------------- pods


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


# An absent security block is left out of dumps, so adding the field changed no spec or run hash.
Security = Annotated[
    PodSecurity | None,
    Field(
        default=None,
        exclude_if=unset,
        description="opt-outs from the secure pod defaults (docs/pod-security.md)",
    ),
]
