"""Simulated Deployment and HorizontalPodAutoscaler controllers (what kube-controller-manager does
for serving workloads); Jobs and their pods are in ``jobs``.

Deployment: a new generation is first reported as observed with ``Progressing=True`` reason
``ReplicaSetUpdated`` (and ``Available=False`` until pods are ready the first time); after the
deployment delay every replica is ready and available, with ``Available=True``
(``MinimumReplicasAvailable``) and ``Progressing=True`` (``NewReplicaSetAvailable``). Zero
replicas are Available at once. No ReplicaSets or Pods are created for Deployments.
"""

from __future__ import annotations

from typing import Any

from reconciler_sandbox.controllers import Context, Controller, condition, terminating
from reconciler_sandbox.store import Event

Obj = dict[str, Any]


class DeploymentController(Controller):
    resources = (("apps", "deployments"),)

    def handle(self, event: Event, ctx: Context) -> None:
        meta = event.obj["metadata"]
        # Events can be stale by the time they are handled: act on the current object.
        obj = ctx.get("apps/v1", "deployments", meta["namespace"], meta["name"])
        if obj is None or terminating(obj):
            return
        status = obj.get("status") or {}
        generation = obj["metadata"].get("generation", 1)
        if status.get("observedGeneration") == generation:
            return
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        if replicas == 0:
            ctx.write_status(obj, _deployment_status(obj, generation, 0, 0, available=True))
            return
        ready = min(status.get("readyReplicas", 0), replicas)
        written = ctx.write_status(
            obj, _deployment_status(obj, generation, replicas, ready, available=False)
        )
        if written is not None:
            meta = obj["metadata"]
            ctx.schedule(
                ctx.deployment_delay,
                lambda: self._finish(ctx, meta["namespace"], meta["name"], generation),
            )

    def _finish(self, ctx: Context, namespace: str, name: str, generation: int) -> None:
        obj = ctx.get("apps/v1", "deployments", namespace, name)
        if obj is None or terminating(obj) or obj["metadata"].get("generation") != generation:
            return  # deleted, or a newer generation has its own timer
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        if (
            ctx.write_status(
                obj, _deployment_status(obj, generation, replicas, replicas, available=True)
            )
            is None
        ):
            ctx.schedule(0.01, lambda: self._finish(ctx, namespace, name, generation))


class HorizontalPodAutoscalerController(Controller):
    """Reports what kube-controller-manager's autoscaler reports once it has read its metrics.

    The sandbox has no metrics, so the autoscaler holds its target's replica count within
    ``[minReplicas, maxReplicas]`` and says it is able to scale, as a healthy one does.
    """

    resources = (("autoscaling", "horizontalpodautoscalers"),)

    def handle(self, event: Event, ctx: Context) -> None:
        meta = event.obj["metadata"]
        obj = ctx.get("autoscaling/v2", "horizontalpodautoscalers", meta["namespace"], meta["name"])
        if obj is None or terminating(obj):
            return
        generation = obj["metadata"].get("generation", 1)
        status = obj.get("status") or {}
        if status.get("observedGeneration") == generation:
            return
        spec = obj.get("spec") or {}
        lowest = spec.get("minReplicas", 1)
        highest = max(lowest, spec.get("maxReplicas", lowest))
        target = spec.get("scaleTargetRef") or {}
        current = lowest
        if target.get("kind") == "Deployment":
            scaled = ctx.get("apps/v1", "deployments", meta["namespace"], target.get("name", ""))
            if scaled is not None:
                current = (scaled.get("spec") or {}).get("replicas", lowest)
        previous = status.get("conditions") or []
        ctx.write_status(
            obj,
            {
                "observedGeneration": generation,
                "currentReplicas": current,
                "desiredReplicas": min(max(current, lowest), highest),
                "conditions": [
                    condition(
                        "AbleToScale",
                        "True",
                        "ReadyForNewScale",
                        "recommended size matches current size",
                        previous,
                    ),
                    condition(
                        "ScalingActive",
                        "True",
                        "ValidMetricFound",
                        "the HPA was able to successfully calculate a replica count",
                        previous,
                    ),
                    condition(
                        "ScalingLimited",
                        "False",
                        "DesiredWithinRange",
                        "the desired count is within the acceptable range",
                        previous,
                    ),
                ],
            },
        )


def _deployment_status(
    obj: Obj, generation: int, replicas: int, ready: int, available: bool
) -> Obj:
    previous = (obj.get("status") or {}).get("conditions") or []
    name = obj["metadata"]["name"]
    replica_set = f"{name}-{obj['metadata']['uid'][:10].replace('-', '')}"
    if available:
        conditions = [
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                previous,
                True,
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{replica_set}" has successfully progressed.',
                previous,
                True,
            ),
        ]
    else:
        has_minimum = ready >= replicas
        conditions = [
            condition(
                "Available",
                "True" if has_minimum else "False",
                "MinimumReplicasAvailable" if has_minimum else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if has_minimum
                else "Deployment does not have minimum availability.",
                previous,
                True,
            ),
            condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{replica_set}" is progressing.',
                previous,
                True,
            ),
        ]
    status: Obj = {"observedGeneration": generation}
    # The real controller omits zero counts.
    counts = {
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": replicas - ready,
    }
    status.update({k: v for k, v in counts.items() if v})
    status["conditions"] = conditions
    return status
