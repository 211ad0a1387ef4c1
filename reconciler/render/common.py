"""Pieces every backend shares: object metadata, pod labels, env, resources, containers.

Manifests are plain dicts built in a fixed key order, so YAML or JSON dumps of them are
byte-identical from run to run. Values are emitted in the form the API server stores them
(string quantities, integer ports) so a live object never differs from what was applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import labels
from reconciler.errors import RenderError
from reconciler.render.identity import spec_hash
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import (
    ConfigMapEnv,
    EnvValue,
    ModelSource,
    PodSecurity,
    Resources,
    SecretEnv,
    hyperparameter_env_name,
)

Manifest = dict[str, Any]

STABLE_MODEL_URI = labels.STABLE_MODEL_URI
CANARY_MODEL_URI = labels.CANARY_MODEL_URI
GPU_RESOURCE = "nvidia.com/gpu"
# A training container writes its metrics JSON to /dev/termination-log; when it crashes before
# writing, the log tail is the next best message for status.
TERMINATION_POLICY = "FallbackToLogsOnError"


@dataclass(frozen=True)
class CanaryTraffic:
    """Where a canary analysis (reconciler.delivery) stands: the canary's share of traffic, or
    ``promoted``: its model serves as the stable one, alone."""

    percent: int
    promoted: bool = False


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs beyond the spec itself; the same for every spec of one commit."""

    source_commit: str
    # The URI a fromTraining/fromPipeline source serves now; None when nothing is trained yet.
    resolve_model: Callable[[ModelSource], str | None]
    # Set while spec.canary.analysis runs; None: the spec's own trafficPercent or first step.
    canary_traffic: CanaryTraffic | None = None


def identity_labels(loaded: LoadedSpec) -> dict[str, str]:
    """Labels that say which spec owns an object; they go on pod templates too."""
    spec = loaded.spec
    return {
        labels.MANAGED_BY: labels.MANAGER,
        labels.SPEC_KIND: spec.kind,
        labels.SPEC_NAME: spec.metadata.name,
        **spec.metadata.labels,
    }


def metadata(
    loaded: LoadedSpec,
    ctx: RenderContext,
    name: str,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
    hashed: str | None = None,
) -> dict[str, Any]:
    """``hashed``: the spec's hash when the caller has it already, since hashing dumps the whole
    spec (a pipeline renders one Job per step)."""
    return {
        "name": name,
        "namespace": loaded.key.namespace,
        "labels": {**identity_labels(loaded), **(extra_labels or {})},
        "annotations": {
            labels.SPEC_HASH: hashed or spec_hash(loaded.spec),
            labels.SOURCE_COMMIT: ctx.source_commit,
            labels.SOURCE_PATH: loaded.file,
            **(extra_annotations or {}),
        },
    }


def env_var_suffix(name: str) -> str:
    """``learning-rate`` -> ``LEARNING_RATE``: the part of an env name derived from a spec name."""
    return re.sub(r"[-.]", "_", name).upper()


def env_list(system: Sequence[tuple[str, str]], user: Mapping[str, EnvValue]) -> list[dict]:
    """The reconciler's own variables first (so user values can refer to them with $(NAME)),
    then the user's in the order written.

    Two pipeline outputs can still map to one name (step ``a-b`` output ``c`` and step ``a``
    output ``b-c`` both give ``INPUT_A_B_C``): that is an error rather than a silent winner, and
    server-side apply rejects duplicate keys in a list merged by name anyway. User names cannot
    clash: the models reserve every name and prefix the reconciler sets.
    """
    result: list[dict] = []
    seen: set[str] = set()
    for name, value in system:
        if name in seen:
            raise RenderError(f"two spec entries become the same env variable {name}")
        seen.add(name)
        result.append({"name": name, "value": value})
    result.extend(_env_entry(name, value) for name, value in user.items())
    return result


def _env_entry(name: str, value: EnvValue) -> dict[str, Any]:
    if isinstance(value, SecretEnv):
        ref = value.secret_key_ref
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
    if isinstance(value, ConfigMapEnv):
        ref = value.config_map_key_ref
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": ref.name, "key": ref.key}}}
    return {"name": name, "value": value}


def resource_requirements(resources: Resources) -> dict[str, dict[str, str]]:
    """cpu and memory as both requests and limits (Guaranteed QoS), GPUs as a limit."""
    fixed = {
        key: value
        for key, value in (("cpu", resources.cpu), ("memory", resources.memory))
        if value is not None
    }
    limits = dict(fixed)
    if resources.gpu:
        limits[GPU_RESOURCE] = str(resources.gpu)
    result: dict[str, dict[str, str]] = {}
    if limits:
        result["limits"] = limits
    if fixed:
        result["requests"] = fixed
    return result


_SECURE = PodSecurity()


def security_context(security: PodSecurity | None) -> dict[str, Any]:
    """A container's securityContext: the secure defaults, less what the spec opted out of.

    Dropping ALL and the RuntimeDefault profile are what Pod Security Admission's ``restricted``
    level asks for; runAsNonRoot, its last requirement, is opt-in because many ML images run
    as root and would not start (docs/pod-security.md).
    """
    wanted = security or _SECURE
    capabilities: dict[str, list[str]] = {"drop": ["ALL"]}
    if wanted.capabilities:
        capabilities = {"add": list(wanted.capabilities), **capabilities}
    result: dict[str, Any] = {
        "allowPrivilegeEscalation": wanted.allow_privilege_escalation,
        "capabilities": capabilities,
    }
    if wanted.run_as_non_root:
        result["runAsNonRoot"] = True
    result["seccompProfile"] = {"type": wanted.seccomp_profile}
    return result


def pod_security(security: PodSecurity | None) -> dict[str, Any]:
    """Pod-level fields: no service-account token unless the spec asks for one.

    Workloads rarely call the API server; a token they never use is only a credential for
    whoever gets code running in the pod.
    """
    return {"automountServiceAccountToken": (security or _SECURE).service_account_token}


def container(
    name: str,
    image: str,
    *,
    security: PodSecurity | None,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    env: list[dict] | None = None,
    resources: Resources | None = None,
    port: int | None = None,
    termination_policy: str | None = None,
) -> dict[str, Any]:
    """A container with only the fields that carry meaning; empty ones are left out.

    ``security`` is required so that no backend can render a container without deciding.
    """
    result: dict[str, Any] = {"name": name, "image": image}
    if command:
        result["command"] = list(command)
    if args:
        result["args"] = list(args)
    if env:
        result["env"] = env
    if port is not None:
        result["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    requirements = resource_requirements(resources) if resources else {}
    if requirements:
        result["resources"] = requirements
    if termination_policy:
        result["terminationMessagePolicy"] = termination_policy
    result["securityContext"] = security_context(security)
    return result


def hyperparameter_env(hyperparameters: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        (hyperparameter_env_name(name), hyperparameters[name]) for name in sorted(hyperparameters)
    ]


def hyperparameter_args(hyperparameters: Mapping[str, str]) -> list[str]:
    return [f"--{name}={hyperparameters[name]}" for name in sorted(hyperparameters)]


def split_replicas(total: int, percent: int) -> tuple[int, int]:
    """(stable, canary) replicas for a canary receiving ``percent`` of the traffic.

    The canary gets ``total * percent / 100`` rounded half up, at least 1 when the percent is
    above 0; the stable side keeps the rest and at least 1 while it still takes traffic. So a
    small total can run one more pod than asked for (2 replicas at 10% -> 1 + 1) rather than
    leave a traffic share with no pod to serve it.
    """
    if total == 0 or percent == 0:
        return total, 0
    if percent == 100:
        return 0, total
    canary = max(1, (total * percent + 50) // 100)
    return max(1, total - canary), canary


def cpu_utilization(percent: int) -> dict[str, Any]:
    """An autoscaling/v2 MetricSpec on average CPU; Seldon's hpaSpec.metricsv2 takes it too."""
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }
