"""backend ``job``: one batch/v1 Job per run, named ``<name>-<hash8>``."""

from __future__ import annotations

from typing import Any

from reconciler.render.common import Manifest
from reconciler.render.training import TrainingRun

CONTAINER = "train"


def render_job(run: TrainingRun) -> list[Manifest]:
    spec = run.spec.spec
    body: dict[str, Any] = {"backoffLimit": run.backoff_limit}
    if spec.timeout_seconds is not None:
        body["activeDeadlineSeconds"] = spec.timeout_seconds
    body["template"] = {
        "metadata": {"labels": run.pod_labels()},
        "spec": run.pod_spec(run.container(CONTAINER), restartPolicy="Never"),
    }
    return [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": run.object_metadata(), "spec": body}
    ]
