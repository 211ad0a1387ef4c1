"""runtime ``deployment``: a Deployment, a Service, and an HPA when autoscaling is set.

A canary is a second Deployment ``<name>-canary``. Both Deployments' pods carry the spec's
identity labels and ``mlops/role: stable|canary``; the Service selects on the identity only, so
it balances over both, and traffic follows the replica split (see ``split_replicas``). With
autoscaling the HPA scales the stable Deployment from its share of minReplicas upwards and the
canary keeps a fixed count.

No readiness probe: the spec names no health endpoint, and a probe on a guessed path would
keep a working server out of its Service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler import labels
from reconciler.render.common import (
    Manifest,
    RenderContext,
    container,
    cpu_utilization,
    env_list,
    identity_labels,
    metadata,
    pod_security,
    split_replicas,
)
from reconciler.render.serving import ServedModels, total_replicas
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import ModelDeployment

SERVICE_PORT = 80
CONTAINER = "server"
STABLE = "stable"
CANARY = "canary"


def render_deployment(
    loaded: LoadedSpec, ctx: RenderContext, spec: ModelDeployment, models: ServedModels
) -> list[Manifest]:
    name = spec.metadata.name
    stable_count, canary_count = total_replicas(spec.spec), 0
    if models.canary is not None:
        stable_count, canary_count = split_replicas(stable_count, models.canary_percent)
    autoscaled = spec.spec.autoscaling is not None
    parts = _Parts(loaded, ctx, spec, models)

    manifests = [
        parts.service(),
        parts.deployment(name, STABLE, models.stable, None if autoscaled else stable_count),
    ]
    if models.canary is not None:
        manifests.append(parts.deployment(f"{name}-canary", CANARY, models.canary, canary_count))
    if autoscaled:
        manifests.append(parts.autoscaler(max(1, stable_count)))
    return manifests


@dataclass(frozen=True)
class _Parts:
    loaded: LoadedSpec
    ctx: RenderContext
    spec: ModelDeployment
    models: ServedModels

    def _metadata(self, name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
        return metadata(self.loaded, self.ctx, name, extra_labels, self.models.annotations())

    def _selector(self) -> dict[str, str]:
        # The kind keeps a TrainingJob's pods of the same name out of the Service.
        return {labels.SPEC_KIND: self.spec.kind, labels.SPEC_NAME: self.spec.metadata.name}

    def deployment(self, name: str, role: str, model_uri: str, replicas: int | None) -> Manifest:
        spec = self.spec.spec
        assert spec.image is not None  # required for this runtime by the spec model
        body: dict[str, Any] = {}
        if replicas is not None:
            body["replicas"] = replicas
        body["selector"] = {"matchLabels": {**self._selector(), labels.ROLE: role}}
        body["template"] = {
            "metadata": {"labels": {**identity_labels(self.loaded), labels.ROLE: role}},
            "spec": {
                **pod_security(spec.security),
                "containers": [
                    container(
                        CONTAINER,
                        spec.image,
                        security=spec.security,
                        env=env_list([("MODEL_URI", model_uri)], spec.env),
                        resources=spec.resources,
                        port=spec.port,
                    )
                ],
            },
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self._metadata(name, {labels.ROLE: role}),
            "spec": body,
        }

    def service(self) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self._metadata(self.spec.metadata.name),
            "spec": {
                "type": "ClusterIP",
                "selector": self._selector(),
                "ports": [
                    {
                        "name": "http",
                        "port": SERVICE_PORT,
                        "targetPort": self.spec.spec.port,
                        "protocol": "TCP",
                    }
                ],
            },
        }

    def autoscaler(self, min_replicas: int) -> Manifest:
        autoscaling = self.spec.spec.autoscaling
        assert autoscaling is not None
        name = self.spec.metadata.name
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self._metadata(name),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": min_replicas,
                "maxReplicas": autoscaling.max_replicas,
                "metrics": [cpu_utilization(autoscaling.target_cpu_utilization_percentage)],
            },
        }
