"""runtime ``kserve``: one serving.kserve.io/v1beta1 InferenceService.

Known formats use ``predictor.model`` with ``modelFormat`` and ``storageUri`` so KServe picks
its serving runtime (``spec.image`` is then not used); ``custom`` runs ``spec.image`` as
``predictor.containers[kserve-container]`` with ``STORAGE_URI`` (KServe's storage initializer
downloads it to /mnt/models) and ``MODEL_URI`` in its env.

Canary: KServe rolls a canary by keeping the previously ready revision and sending
``canaryTrafficPercent`` to the latest one. So with a canary the predictor's storageUri is the
*canary* model and ``canaryTrafficPercent`` is set; the revision already serving the stable
model keeps the rest. The stable URI stays in the ``mlops/model-uri`` and
``mlops/stable-model-uri`` annotations, the canary's in ``mlops/canary-model-uri``. Promoting
means making the canary model the spec's model and removing the canary (100% to the latest).
A canary declared together with a brand-new InferenceService has no earlier revision and so
gets all traffic until a stable revision exists, which is KServe's own behaviour.
"""

from __future__ import annotations

from typing import Any

from reconciler.render.common import (
    Manifest,
    RenderContext,
    env_list,
    identity_labels,
    metadata,
    pod_security,
    resource_requirements,
    security_context,
)
from reconciler.render.serving import ServedModels
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import ModelDeployment, ModelDeploymentSpec

CUSTOM_CONTAINER = "kserve-container"


def render_kserve(
    loaded: LoadedSpec, ctx: RenderContext, spec: ModelDeployment, models: ServedModels
) -> list[Manifest]:
    predictor: dict[str, Any] = {
        "labels": identity_labels(loaded),
        **_scaling(spec.spec),
        **pod_security(spec.spec.security),
    }
    uri = models.stable
    if models.canary is not None:
        uri = models.canary
        predictor["canaryTrafficPercent"] = models.canary_percent
    if spec.spec.format == "custom":
        predictor["containers"] = [_custom_container(spec.spec, uri)]
    else:
        predictor["model"] = _model(spec.spec, uri)
    return [
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": metadata(loaded, ctx, spec.metadata.name, None, models.annotations()),
            "spec": {"predictor": predictor},
        }
    ]


def _scaling(spec: ModelDeploymentSpec) -> dict[str, Any]:
    autoscaling = spec.autoscaling
    if autoscaling is not None:
        return {
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "scaleMetric": "cpu",
            "scaleTarget": autoscaling.target_cpu_utilization_percentage,
        }
    replicas = 1 if spec.replicas is None else spec.replicas
    # maxReplicas 0 means "unbounded" to KServe, so zero replicas is scale-to-zero when idle.
    return {"minReplicas": replicas, "maxReplicas": max(replicas, 1)}


def _model(spec: ModelDeploymentSpec, uri: str) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": spec.format}, "storageUri": uri}
    env = env_list([], spec.env)
    if env:
        model["env"] = env
    requirements = resource_requirements(spec.resources)
    if requirements:
        model["resources"] = requirements
    model["securityContext"] = security_context(spec.security)
    return model


def _custom_container(spec: ModelDeploymentSpec, uri: str) -> dict[str, Any]:
    assert spec.image is not None  # required for the custom format by the spec model
    result: dict[str, Any] = {
        "name": CUSTOM_CONTAINER,
        "image": spec.image,
        "env": env_list([("STORAGE_URI", uri), ("MODEL_URI", uri)], spec.env),
        # Knative accepts only http1 or h2c as the serving port's name.
        "ports": [{"name": "http1", "containerPort": spec.port, "protocol": "TCP"}],
    }
    requirements = resource_requirements(spec.resources)
    if requirements:
        result["resources"] = requirements
    result["securityContext"] = security_context(spec.security)
    return result
