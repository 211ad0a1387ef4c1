"""backend ``pytorchjob``: a kubeflow.org/v1 PyTorchJob with one Master and workers-1 Workers.

Every replica runs the same container (the training operator sets the rendezvous env); pods
are never restarted in place, so ``runPolicy.backoffLimit`` is the only retry budget.
"""

from __future__ import annotations

from typing import Any

from reconciler.render.common import Manifest
from reconciler.render.training import TrainingRun

# The training operator finds the container by this name.
CONTAINER = "pytorch"


def render_pytorchjob(run: TrainingRun) -> list[Manifest]:
    spec = run.spec.spec
    run_policy: dict[str, Any] = {"backoffLimit": run.backoff_limit}
    if spec.timeout_seconds is not None:
        run_policy["activeDeadlineSeconds"] = spec.timeout_seconds
    replica_specs = {"Master": _replicas(run, 1)}
    if spec.workers > 1:
        replica_specs["Worker"] = _replicas(run, spec.workers - 1)
    return [
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": run.object_metadata(),
            "spec": {"runPolicy": run_policy, "pytorchReplicaSpecs": replica_specs},
        }
    ]


def _replicas(run: TrainingRun, count: int) -> dict[str, Any]:
    return {
        "replicas": count,
        "restartPolicy": "Never",
        "template": {
            "metadata": {"labels": run.pod_labels()},
            "spec": run.pod_spec(run.container(CONTAINER)),
        },
    }
