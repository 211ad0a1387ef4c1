"""backend ``trainjob``: a Kubeflow Trainer v2 trainer.kubeflow.org/v1alpha1 TrainJob.

The TrainJob names a ClusterTrainingRuntime (``spec.trainingRuntime``, default
``torch-distributed``) that holds the job template; the TrainJob sets what the runtime leaves to
it: ``numNodes`` from ``workers``, ``resourcesPerNode``, image, command, args and env. Pod labels
(the run hash, which the reconciler reads termination messages by) and the container's
securityContext go through a ``runtimePatches`` entry owned by the reconciler, aimed at the
``node`` replicated job and container, where Kubeflow's runtimes run the trainer.

What the TrainJob API has no field for is left to the runtime: retries (``backoffLimit`` is
refused for this backend), the pod's service-account token, and the termination message policy
(the default, ``File``: metrics are read from /dev/termination-log as for every backend).
"""

from __future__ import annotations

from typing import Any

from reconciler import labels
from reconciler.render.common import Manifest, resource_requirements, security_context
from reconciler.render.training import TrainingRun
from reconciler.specs.models import DEFAULT_TRAINING_RUNTIME

RUNTIME_GROUP = "trainer.kubeflow.org"
RUNTIME_KIND = "ClusterTrainingRuntime"
# The replicated job and container of Kubeflow's runtimes that run the trainer.
NODE = "node"


def render_trainjob(run: TrainingRun) -> list[Manifest]:
    spec = run.spec.spec
    trainer: dict[str, Any] = {"image": spec.image}
    if spec.command:
        trainer["command"] = list(spec.command)
    args = run.args()
    if args:
        trainer["args"] = args
    env = run.env()
    if env:
        trainer["env"] = env
    trainer["numNodes"] = spec.workers
    resources = resource_requirements(spec.resources)
    if resources:
        trainer["resourcesPerNode"] = resources
    body: dict[str, Any] = {
        "runtimeRef": {
            "apiGroup": RUNTIME_GROUP,
            "kind": RUNTIME_KIND,
            "name": spec.training_runtime or DEFAULT_TRAINING_RUNTIME,
        },
        "trainer": trainer,
        "runtimePatches": [_patch(run)],
    }
    if spec.timeout_seconds is not None:
        body["activeDeadlineSeconds"] = spec.timeout_seconds
    return [
        {
            "apiVersion": "trainer.kubeflow.org/v1alpha1",
            "kind": "TrainJob",
            "metadata": run.object_metadata(),
            "spec": body,
        }
    ]


def _patch(run: TrainingRun) -> dict[str, Any]:
    pod = {
        "metadata": {"labels": run.pod_labels()},
        "spec": {
            "containers": [
                {"name": NODE, "securityContext": security_context(run.spec.spec.security)}
            ]
        },
    }
    job = {"name": NODE, "template": {"spec": {"template": pod}}}
    return {
        "manager": labels.FIELD_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [job]}}},
    }
