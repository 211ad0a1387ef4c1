"""runtime ``seldon``: one machinelearning.seldon.io/v1 SeldonDeployment.

Known formats run a Seldon prepackaged server chosen by ``implementation``; ``custom`` runs
``spec.image`` as the graph's container. A canary is a second predictor ``canary`` with the
canary model; Seldon routes ``traffic`` percent to each predictor (stable gets 100 - p) and the
replicas are split with the same rule as the deployment runtime. With autoscaling the stable
predictor gets an hpaSpec starting at its share of minReplicas; the canary a fixed count.
Seldon injects the serving port itself, so ``spec.port`` is not used here.
"""

from __future__ import annotations

from typing import Any

from reconciler.render.common import (
    Manifest,
    RenderContext,
    container,
    cpu_utilization,
    env_list,
    identity_labels,
    metadata,
    pod_security,
    resource_requirements,
    security_context,
    split_replicas,
)
from reconciler.render.serving import ServedModels, total_replicas
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import ModelDeployment, ModelDeploymentSpec

GRAPH_NODE = "model"
IMPLEMENTATIONS = {
    "sklearn": "SKLEARN_SERVER",
    "xgboost": "XGBOOST_SERVER",
    "tensorflow": "TENSORFLOW_SERVER",
    "pytorch": "TRITON_SERVER",
    "onnx": "TRITON_SERVER",
    "huggingface": "HUGGINGFACE_SERVER",
}
# These servers speak only the Open Inference (v2) protocol.
V2_ONLY = {"TRITON_SERVER", "HUGGINGFACE_SERVER"}


def render_seldon(
    loaded: LoadedSpec, ctx: RenderContext, spec: ModelDeployment, models: ServedModels
) -> list[Manifest]:
    body = spec.spec
    stable_count, canary_count = total_replicas(body), 0
    if models.canary is not None:
        stable_count, canary_count = split_replicas(stable_count, models.canary_percent)
    pod_labels = identity_labels(loaded)

    stable = _predictor("default", body, models.stable, pod_labels)
    if body.autoscaling is not None:
        stable["componentSpecs"][0]["hpaSpec"] = {
            "minReplicas": max(1, stable_count),
            "maxReplicas": body.autoscaling.max_replicas,
            "metricsv2": [cpu_utilization(body.autoscaling.target_cpu_utilization_percentage)],
        }
    else:
        stable["replicas"] = stable_count
    predictors = [stable]
    if models.canary is not None:
        canary = _predictor("canary", body, models.canary, pod_labels)
        canary["replicas"] = canary_count
        stable["traffic"] = 100 - models.canary_percent
        canary["traffic"] = models.canary_percent
        predictors.append(canary)

    seldon_spec: dict[str, Any] = {}
    if IMPLEMENTATIONS.get(body.format) in V2_ONLY:
        seldon_spec["protocol"] = "v2"
    seldon_spec["predictors"] = predictors
    return [
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": metadata(loaded, ctx, spec.metadata.name, None, models.annotations()),
            "spec": seldon_spec,
        }
    ]


def _predictor(
    name: str, spec: ModelDeploymentSpec, uri: str, pod_labels: dict[str, str]
) -> dict[str, Any]:
    graph: dict[str, Any] = {"name": GRAPH_NODE}
    server: dict[str, Any]
    if spec.format == "custom":
        assert spec.image is not None  # required for the custom format by the spec model
        graph["type"] = "MODEL"
        server = container(
            GRAPH_NODE,
            spec.image,
            security=spec.security,
            env=env_list([("MODEL_URI", uri)], spec.env),
            resources=spec.resources,
        )
    else:
        graph["implementation"] = IMPLEMENTATIONS[spec.format]
        # A container named after the graph node adds env and resources to the prepackaged
        # server rather than replacing it.
        server = {"name": GRAPH_NODE}
        env = env_list([], spec.env)
        if env:
            server["env"] = env
        requirements = resource_requirements(spec.resources)
        if requirements:
            server["resources"] = requirements
        server["securityContext"] = security_context(spec.security)
    graph["modelUri"] = uri
    pod = {**pod_security(spec.security), "containers": [server]}
    return {
        "name": name,
        "graph": graph,
        "componentSpecs": [{"metadata": {"labels": pod_labels}, "spec": pod}],
    }
