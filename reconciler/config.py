"""Settings of ``reconciler run``: one frozen model, built once at the entry point.

Every setting has one name used three ways: the flag ``--status-branch``, the environment
variable ``RECONCILER_STATUS_BRANCH`` and the key ``statusBranch`` of the ``--config`` YAML file.
Precedence: flag, then environment, then file, then the default. Nothing below the CLI reads the
environment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.errors import ConfigError
from reconciler.inventory import INSTANCE_PATTERN, default_instance
from reconciler.phase import Phase
from reconciler.specs.models import Backend, Name, Runtime, TenancyLimits
from reconciler.status.branch import problem as status_branch_problem

ENV_PREFIX = "RECONCILER_"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# NAMESPACE/NAME: a namespace (a DNS label) and a ServiceAccount name (a DNS subdomain).
SERVICE_ACCOUNT_PATTERN = rf"^{_DNS_LABEL}/{_DNS_LABEL}(\.{_DNS_LABEL})*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSettings(_Frozen):
    repo: str = Field(description="URL or local path of the spec repository")
    branch: str = Field("main", description="branch holding the specs")
    status_branch: str | None = Field(
        None,
        description="branch receiving status files, pinned: reconciler.yaml's statusBranch is "
        "then ignored; unset: reconciler.yaml's (else status), written only while that branch is "
        "new or holds status the reconciler wrote",
    )
    interval: float = Field(
        60.0,
        gt=0,
        description="seconds between polls; a fallback, since local repositories are watched "
        "and remotes can send webhooks",
    )
    cache_dir: Path | None = Field(
        None, description="where the clone is kept between restarts; default: a temporary dir"
    )
    token_file: Path | None = Field(None, description="file holding an HTTPS access token")
    ssh_key_file: Path | None = Field(None, description="file holding an SSH private key")
    ssh_key_passphrase_file: Path | None = Field(
        None, description="file holding the passphrase of --ssh-key-file (read once at start)"
    )
    git_timeout: float = Field(
        60.0,
        gt=0,
        description="seconds a Git fetch or push may wait on a silent server, and may run in "
        "all while it transfers, before it fails",
    )
    webhook_secret_file: Path | None = Field(
        None,
        description="file holding the shared secret of POST /hooks/git on the service port "
        "(needs --metrics-port); unset: no webhook",
    )
    verify_commits: bool = Field(
        False, description="apply a branch tip only when a trusted key signed it"
    )
    trusted_keys_dir: Path | None = Field(
        None,
        description="directory of trusted public keys for --verify-commits: armored OpenPGP, "
        "SSH .pub or allowed_signers files",
    )

    @model_validator(mode="after")
    def _keys_for_verification(self) -> SourceSettings:
        if self.verify_commits and self.trusted_keys_dir is None:
            raise ValueError("--verify-commits needs --trusted-keys-dir")
        return self

    @model_validator(mode="after")
    def _usable_status_branch(self) -> SourceSettings:
        if self.status_branch is not None:
            reason = status_branch_problem(self.status_branch, self.branch)
            if reason is not None:
                raise ValueError(f"--status-branch {self.status_branch!r}: {reason}")
        return self

    @model_validator(mode="after")
    def _passphrase_for_a_key(self) -> SourceSettings:
        if self.ssh_key_passphrase_file is not None and self.ssh_key_file is None:
            raise ValueError("--ssh-key-passphrase-file needs --ssh-key-file")
        return self


class ClusterSettings(_Frozen):
    kubeconfig: str | None = Field(None, description="kubeconfig file; default: the usual lookup")
    context: str | None = Field(None, description="kubeconfig context")
    in_cluster: bool = Field(False, description="use the pod's service account")
    service_account: str | None = Field(
        None,
        pattern=SERVICE_ACCOUNT_PATTERN,
        description="NAMESPACE/NAME of a ServiceAccount to impersonate in every API request, as "
        "Flux's serviceAccountName: its RBAC bounds what the repository can change; the "
        "reconciler's own account then needs only impersonate on it (docs/security.md)",
    )
    apply_concurrency: int = Field(
        16,
        ge=1,
        le=64,
        description="objects applied at once; a real API server answers many applies at a time "
        "(bench/README.md), and its QPS limits are the bound",
    )
    max_prune_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of managed objects one commit may delete before the guard holds",
    )
    allow_prune: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{7,40}$",
        description="release the prune guard held at this commit (its sha, 7 to 40 hex digits); "
        "a guard held at any other commit stays held",
    )
    instance: str | None = Field(
        None,
        pattern=INSTANCE_PATTERN,
        description="this installation's identity: the mlops/instance label and the owner in "
        "the tracking id of every object it applies; it modifies and prunes only objects "
        "carrying its own; default: a hash of the repository (credentials stripped) and branch",
    )

    leader_elect: bool = Field(
        False, description="elect one active replica through a Lease; needed with 2+ replicas"
    )
    lease_name: str = Field("reconciler-leader", description="name of the leader-election Lease")
    lease_namespace: str = Field(
        "reconciler-system", description="namespace of the Lease (in a pod: its own namespace)"
    )
    leader_identity: str | None = Field(
        None, description="this replica's name in the Lease; default: host name + random suffix"
    )
    lease_duration: float = Field(
        15.0, gt=0, description="seconds a standby waits on an unchanged Lease before taking over"
    )
    renew_deadline: float = Field(
        10.0, gt=0, description="seconds a leader goes on without a renewal before it stops"
    )
    retry_period: float = Field(
        2.0, gt=0, description="seconds between renewals, and between a standby's looks"
    )

    @model_validator(mode="after")
    def _safe_election_timings(self) -> ClusterSettings:
        # The gap between the two is the margin that keeps an old leader's last writes from
        # overlapping the new leader's first ones (reconciler/cluster/lease.py).
        if not self.lease_duration > self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("needs lease_duration > renew_deadline > 1.2 * retry_period")
        return self


def _comma_list(value: Any) -> Any:
    """Flags and environment variables give lists as ``a,b``; the config file as a YAML list."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
        return items or None
    return value


CommaList = BeforeValidator(_comma_list)


class TenancySettings(_Frozen):
    """Limits the operator sets: reconciler.yaml may narrow them, never widen them."""

    allowed_namespaces: Annotated[list[Name] | None, CommaList] = Field(
        None, description="namespaces specs may use, comma-separated; bounds reconciler.yaml"
    )
    allowed_backends: Annotated[list[Backend] | None, CommaList] = Field(
        None, description="TrainingJob backends specs may use; bounds reconciler.yaml"
    )
    allowed_runtimes: Annotated[list[Runtime] | None, CommaList] = Field(
        None, description="ModelDeployment runtimes specs may use; bounds reconciler.yaml"
    )
    max_gpus_per_spec: int | None = Field(
        None, ge=0, description="GPUs one spec may request; bounds reconciler.yaml"
    )
    max_gpus_per_repository: int | None = Field(
        None, ge=0, description="GPUs all specs may request; bounds reconciler.yaml"
    )
    namespaced: bool = Field(
        False,
        description="the install may only read and write --allowed-namespaces (deploy/namespaced): "
        "watch and list there, never cluster-wide",
    )

    @model_validator(mode="after")
    def _namespaces_for_a_namespaced_install(self) -> TenancySettings:
        if self.namespaced and not self.allowed_namespaces:
            raise ValueError("--namespaced needs --allowed-namespaces")
        return self

    def limits(self) -> TenancyLimits:
        return TenancyLimits(**self.model_dump(exclude={"namespaced"}))


class ServiceSettings(_Frozen):
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="port of /healthz, /readyz and /metrics (0: any)"
    )
    http_timeout: int = Field(
        10,
        ge=1,
        le=3600,
        description="seconds a connection to that port may stay silent (a request sent in part, "
        "an idle keep-alive) before it is dropped",
    )
    once: bool = Field(False, description="reconcile once until settled, then exit")
    resync_interval: float = Field(
        600.0,
        gt=0,
        description="seconds between full resyncs: every spec that failed, or whose inputs "
        "changed, is planned again (a CRD installed later, an API error); one with nothing to do "
        "makes no API request",
    )
    settle_timeout: float = Field(
        300.0, gt=0, description="seconds --once waits for specs to settle"
    )
    stuck_after: float = Field(
        300.0,
        gt=0,
        description="seconds one reconcile may run before /healthz fails, so Kubernetes restarts "
        "a worker stuck on a call that never returns; above the longest reconcile expected",
    )
    log_level: str = Field(
        "info", pattern="^(debug|info|warning|error)$", description="debug, info, warning or error"
    )


SpecKind = Literal["ModelDeployment", "TrainingJob", "Pipeline"]


class Receiver(_Frozen):
    """One webhook told of phase changes. Its URL is a secret (a Slack incoming-webhook URL
    grants posting): it is never logged, and a file keeps it out of the settings."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    name: str | None = Field(
        None, description="how logs and metrics name it; default: receiver-<position>"
    )
    url: SecretStr | None = Field(None, description="where to POST")
    url_file: Path | None = Field(None, description="file holding the URL (read once at start)")
    format: Literal["json", "slack"] = Field(
        "json", description="json: the generic payload; slack: an incoming-webhook {text}"
    )
    namespaces: list[Name] | None = Field(None, description="only specs in these; default all")
    kinds: list[SpecKind] | None = Field(None, description="only these spec kinds; default all")
    phases: list[Phase] | None = Field(
        None, description="only changes to these phases; default all"
    )

    @model_validator(mode="after")
    def _one_url(self) -> Receiver:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("a receiver needs exactly one of url and urlFile")
        return self


def _receivers(value: Any) -> Any:
    """Flags and environment variables give receivers as a JSON list; the file as YAML."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list of receivers: {exc.msg}") from None
    return value


class NotifySettings(_Frozen):
    notify_receivers: Annotated[list[Receiver], BeforeValidator(_receivers)] = Field(
        default_factory=list,
        description="webhooks POSTed on every spec phase change, a JSON list of {url or urlFile, "
        "format json|slack, namespaces, kinds, phases} (docs/status.md, Notifications)",
    )


class DeliverySettings(_Frozen):
    """Where canary analyses read their metrics (docs/progressive-delivery.md)."""

    prometheus_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="base URL of the Prometheus HTTP API that canary analyses query; unset: "
        "every check is inconclusive, so analysed canaries roll back",
    )
    prometheus_token_file: Path | None = Field(
        None, description="file holding a bearer token for --prometheus-url (read once at start)"
    )


class Settings(_Frozen):
    source: SourceSettings
    cluster: ClusterSettings = ClusterSettings()
    service: ServiceSettings = ServiceSettings()
    tenancy: TenancySettings = TenancySettings()
    notify: NotifySettings = NotifySettings()
    delivery: DeliverySettings = DeliverySettings()

    def instance(self) -> str:
        """The installation identity: the setting, else one derived from repository and branch."""
        return self.cluster.instance or default_instance(self.source.repo, self.source.branch)


@dataclass(frozen=True)
class Option:
    name: str  # snake_case attribute name
    section: str
    help: str
    kind: type = str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def file_key(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)


def _options() -> list[Option]:
    options = []
    for section, model in (
        ("source", SourceSettings),
        ("cluster", ClusterSettings),
        ("service", ServiceSettings),
        ("tenancy", TenancySettings),
        ("notify", NotifySettings),
        ("delivery", DeliverySettings),
    ):
        for name, info in model.model_fields.items():
            annotation = info.annotation
            kind = bool if annotation is bool else str
            options.append(Option(name, section, info.description or name, kind))
    return options


OPTIONS = _options()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for every setting, defaulting to None so precedence can tell what was given."""
    parser.add_argument("--config", help="YAML file of settings (keys in camelCase)")
    for option in OPTIONS:
        if option.kind is bool:
            parser.add_argument(option.flag, action="store_true", default=None, help=option.help)
        else:
            parser.add_argument(option.flag, default=None, help=f"{option.help} [{option.env}]")


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: {value!r} is not a boolean (true or false)")


def load_settings(
    flags: Mapping[str, Any], environ: Mapping[str, str], config_file: str | None = None
) -> Settings:
    from_file: dict[str, Any] = {}
    if config_file:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file}: must be a mapping of settings")
        known = {option.file_key for option in OPTIONS}
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise ConfigError(f"{config_file}: unknown setting(s) {', '.join(unknown)}")
        from_file = loaded
    sections: dict[str, dict[str, Any]] = {
        "source": {},
        "cluster": {},
        "service": {},
        "tenancy": {},
        "notify": {},
        "delivery": {},
    }
    origin: dict[str, str] = {}
    for option in OPTIONS:
        value: Any = flags.get(option.name)
        where = option.flag
        if value is None and option.env in environ:
            value, where = environ[option.env], option.env
            if option.kind is bool:
                value = _parse_bool(value, where)
        if value is None and option.file_key in from_file:
            value, where = from_file[option.file_key], f"{config_file}: {option.file_key}"
        if value is not None:
            sections[option.section][option.name] = value
            origin[f"{option.section}.{option.name}"] = where
    if "repo" not in sections["source"]:
        raise ConfigError("--repo (or RECONCILER_REPO) is required")
    try:
        return Settings.model_validate(sections)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            dotted = ".".join(str(part) for part in error["loc"])
            # A list item's location ends in its index: name the setting it came from.
            where = next(
                (origin[prefix] for prefix in _prefixes(error["loc"]) if prefix in origin), dotted
            )
            problems.append(f"{where}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None


def _prefixes(loc: tuple[Any, ...]) -> list[str]:
    """``a.b.0`` -> ``a.b.0``, ``a.b``, ``a``: longest first."""
    parts = [str(part) for part in loc]
    return [".".join(parts[:end]) for end in range(len(parts), 0, -1)]
