"""Simulated Seldon Core v1 operator for machinelearning.seldon.io/v1 SeldonDeployments.

A new generation is ``state: Creating`` with ``deploymentStatus`` listing the Deployment Seldon
makes for each predictor's component (``<name>-<predictor>-<index>-<containers>``) and its
``replicas``, none available yet. After the deployment delay the scenario's service rule for
the predictors' model URIs decides: ``Available`` with every replica available, ``replicas``,
``address.url`` and ``serviceStatus``; or ``Failed`` with the rule's message as
``description``. No Deployments or pods are created.
"""

from __future__ import annotations

import hashlib
from typing import Any

from reconciler_sandbox.controllers import Context, Controller
from reconciler_sandbox.custom_workloads import common
from reconciler_sandbox.store import Event

Obj = dict[str, Any]
API_VERSION = "machinelearning.seldon.io/v1"
RESOURCE = "seldondeployments"
MANAGER = "manager"  # the field manager of Seldon's operator binary
HTTP_PORT, GRPC_PORT = 8000, 5001  # the service orchestrator's ports


class SeldonDeploymentController(Controller):
    resources = (("machinelearning.seldon.io", RESOURCE),)

    def handle(self, event: Event, ctx: Context) -> None:
        if event.type == "DELETED":
            return
        sdep = common.current(ctx, API_VERSION, RESOURCE, event.obj)
        if sdep is None:
            return
        generation = sdep["metadata"].get("generation", 1)
        status = dict(sdep.get("status") or {})
        if status.get("observedGeneration") == generation:
            return
        deployments = _deployments(sdep)
        status.pop("description", None)
        status.update(
            state="Creating",
            observedGeneration=generation,
            deploymentStatus={name: _counts(replicas=count) for name, count in deployments.items()},
            replicas=sum(deployments.values()),
        )
        if ctx.write_status(sdep, status, MANAGER) is not None:
            ctx.schedule(ctx.deployment_delay, lambda: self._finish(ctx, sdep, generation))

    def _finish(self, ctx: Context, seen: Obj, generation: int) -> None:
        sdep = common.current(ctx, API_VERSION, RESOURCE, seen)
        if sdep is None or sdep["metadata"].get("generation") != generation:
            return  # deleted, or a newer generation has its own timer
        meta = sdep["metadata"]
        models = [str(p.get("graph", {}).get("modelUri", "")) for p in _predictors(sdep)]
        rule = ctx.scenario.service_rule(meta["namespace"], meta["name"], models)
        status = dict(sdep["status"])
        if rule.outcome == "Failed":
            status.update(state="Failed", description=rule.message or "model failed to load")
        else:
            status.update(
                state="Available",
                deploymentStatus={
                    name: _counts(replicas=count, availableReplicas=count)
                    for name, count in _deployments(sdep).items()
                },
                address={"url": _address(sdep)},
                serviceStatus={
                    (svc := f"{meta['name']}-{p['name']}"): {
                        "svcName": svc,
                        "httpEndpoint": f"{svc}.{meta['namespace']}:{HTTP_PORT}",
                        "grpcEndpoint": f"{svc}.{meta['namespace']}:{GRPC_PORT}",
                    }
                    for p in _predictors(sdep)
                },
            )
        if ctx.write_status(sdep, status, MANAGER) is None:
            ctx.schedule(0.01, lambda: self._finish(ctx, sdep, generation))


def _counts(**counts: int) -> dict[str, int]:
    # Seldon leaves zero counts out.
    return {k: v for k, v in counts.items() if v}


def _predictors(sdep: Obj) -> list[Obj]:
    return list(sdep["spec"].get("predictors") or [])


def _deployments(sdep: Obj) -> dict[str, int]:
    """Seldon's Deployment name and replica count for each component of each predictor."""
    result = {}
    for predictor in _predictors(sdep):
        for index, component in enumerate(predictor.get("componentSpecs") or []):
            containers = (component.get("spec") or {}).get("containers") or []
            name = "-".join(
                [sdep["metadata"]["name"], predictor["name"], str(index)]
                + [c.get("name", "") for c in containers]
            )
            if len(name) > 63:
                name = "seldon-" + hashlib.md5(name.encode()).hexdigest()
            result[name] = _replicas(sdep, predictor, component)
    return result


def _replicas(sdep: Obj, predictor: Obj, component: Obj) -> int:
    if component.get("hpaSpec"):
        return int(component["hpaSpec"].get("minReplicas", 1))
    for source in (component, predictor, sdep["spec"]):
        if source.get("replicas") is not None:
            return int(source["replicas"])
    return 1


def _address(sdep: Obj) -> str:
    meta, first = sdep["metadata"], _predictors(sdep)[0]
    host = f"{meta['name']}-{first['name']}.{meta['namespace']}.svc.cluster.local:{HTTP_PORT}"
    if sdep["spec"].get("protocol") == "v2":
        return f"http://{host}/v2/models/{first.get('graph', {}).get('name', '')}/infer"
    return f"http://{host}/api/v1.0/predictions"
