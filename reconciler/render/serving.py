"""What every serving runtime needs from a ModelDeployment: the URIs served and replica counts."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import labels
from reconciler.render.common import CANARY_MODEL_URI, STABLE_MODEL_URI, RenderContext
from reconciler.specs.models import ModelDeployment, ModelDeploymentSpec


@dataclass(frozen=True)
class ServedModels:
    stable: str
    canary: str | None  # None: no canary, or its model is not trained yet
    canary_percent: int
    analysed: bool = False  # the percent comes from a canary analysis, which moves it

    def annotations(self) -> dict[str, str]:
        """``mlops/model-uri`` is the stable model on every object of the spec, so status can
        read it from any of them; the canary's own URI is recorded beside it."""
        result = {labels.MODEL_URI: self.stable}
        if self.canary is not None:
            result[STABLE_MODEL_URI] = self.stable
            result[CANARY_MODEL_URI] = self.canary
        if self.analysed:
            result[labels.CANARY_TRAFFIC] = str(self.canary_percent)
        return result


def served_models(deployment: ModelDeployment, ctx: RenderContext) -> ServedModels | None:
    """None when the stable model does not resolve yet: there is nothing to serve."""
    spec = deployment.spec
    stable = ctx.resolve_model(spec.model)
    if stable is None:
        return None
    if spec.canary is None:
        return ServedModels(stable, None, 0)
    canary = ctx.resolve_model(spec.canary.model)
    traffic = ctx.canary_traffic
    if traffic is None:
        return ServedModels(stable, canary, spec.canary.first_percent)
    if traffic.promoted and canary is not None:
        return ServedModels(canary, None, 0)
    return ServedModels(stable, canary, traffic.percent, analysed=True)


def total_replicas(spec: ModelDeploymentSpec) -> int:
    """Pods to run before any autoscaler acts: replicas, else minReplicas, else one."""
    if spec.replicas is not None:
        return spec.replicas
    if spec.autoscaling is not None:
        return spec.autoscaling.min_replicas
    return 1
