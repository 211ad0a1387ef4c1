"""backend ``rayjob``: a ray.io/v1 RayJob on its own cluster of ``workers`` Ray nodes.

The head is one of the nodes (a Ray head schedules work too), so the worker group has
workers-1 replicas and is left out for a single node. KubeRay starts Ray in the containers
itself; the spec's command and arguments become the job's entrypoint, run on the head, which
is why the head carries the run's env. The cluster is torn down when the job finishes.
"""

from __future__ import annotations

import shlex
from typing import Any

from reconciler.render.common import Manifest, container
from reconciler.render.training import TrainingRun

HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
WORKER_GROUP = "workers"


def render_rayjob(run: TrainingRun) -> list[Manifest]:
    spec = run.spec.spec
    body: dict[str, Any] = {
        "entrypoint": shlex.join([*spec.command, *run.args()]),
        "shutdownAfterJobFinishes": True,
        "backoffLimit": run.backoff_limit,
    }
    if spec.timeout_seconds is not None:
        body["activeDeadlineSeconds"] = spec.timeout_seconds
    cluster: dict[str, Any] = {"headGroupSpec": {"template": _template(run, HEAD_CONTAINER)}}
    if spec.workers > 1:
        count = spec.workers - 1
        cluster["workerGroupSpecs"] = [
            {
                "groupName": WORKER_GROUP,
                "replicas": count,
                "minReplicas": count,
                "maxReplicas": count,
                "template": _template(run, WORKER_CONTAINER),
            }
        ]
    body["rayClusterSpec"] = cluster
    return [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": run.object_metadata(),
            "spec": body,
        }
    ]


def _template(run: TrainingRun, name: str) -> dict[str, Any]:
    spec = run.spec.spec
    return {
        "metadata": {"labels": run.pod_labels()},
        "spec": run.pod_spec(
            container(
                name, spec.image, security=spec.security, env=run.env(), resources=spec.resources
            )
        ),
    }
