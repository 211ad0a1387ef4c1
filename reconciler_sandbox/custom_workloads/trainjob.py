"""Simulated Kubeflow Trainer v2 controller for trainer.kubeflow.org/v1alpha1 TrainJobs.

Trainer v2 turns a TrainJob into a JobSet from its runtime, one Job per replicated job, and the
Jobs' pods; here the pods of the trainer step are made directly, one per node:
``<trainjob>-node-0-<index>``, owned by the TrainJob, labelled as JobSet labels them
(``jobset.sigs.k8s.io/jobset-name``, ``replicatedjob-name``, ``job-index`` and the Job's
``batch.kubernetes.io/job-completion-index``) on top of the labels the TrainJob's
``runtimePatches`` give the ``node`` pod template. The container is ``node`` with the TrainJob's
image, command, args, env and ``resourcesPerNode``, and the patched securityContext.

Each pod runs for the duration of the scenario job rule matching the TrainJob's name and ends
with its outcome; only node 0 (rank 0, the process that reports) writes the rule's termination
message. Status follows Trainer v2, which copies the JobSet's terminal condition: ``Complete``
(reason ``AllJobsCompleted``) once every node has succeeded, ``Failed`` (``FailedJobs``) as soon
as one fails, and ``Failed`` (``DeadlineExceeded``) past ``spec.activeDeadlineSeconds``, when
the pods are deleted as Trainer deletes the JobSet. ``jobsStatus`` counts child Jobs (one, the
``node`` job). The runtime itself (``runtimeRef``), the initializer steps, ``suspend`` and the
torchrun rendezvous env are not simulated.
"""

from __future__ import annotations

from typing import Any

from reconciler_sandbox.controllers import Context, condition
from reconciler_sandbox.custom_workloads import common

Obj = dict[str, Any]
API_VERSION = "trainer.kubeflow.org/v1alpha1"
RESOURCE = "trainjobs"
KIND = "TrainJob"
OPERATOR = "trainer.kubeflow.org/trainjob-controller"
NODE = "node"
JOBSET = "jobset.sigs.k8s.io"
JOBSET_NAME = f"{JOBSET}/jobset-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
# Trainer v2's condition reasons and messages (the terminal ones are the JobSet's, copied).
COMPLETE = ("Complete", "AllJobsCompleted", "jobset completed successfully")
FAILED = ("Failed", "FailedJobs", "jobset failed due to one or more job failures")
DEADLINE = ("Failed", "DeadlineExceeded", "TrainJob exceeded its active deadline")


class TrainJobController(common.PodsOperator):
    api_version, resource, kind = API_VERSION, RESOURCE, KIND
    terminal = ("Complete", "Failed")

    def reports(self, pod_labels: dict[str, str]) -> bool:
        return pod_labels.get(COMPLETION_INDEX) == "0"  # node 0: rank 0

    def sync(self, ctx: Context, seen: Obj) -> None:
        job = self.unfinished(ctx, seen)
        if job is None:
            return
        meta, spec = job["metadata"], job["spec"]
        status = dict(job.get("status") or {})
        conditions = list(status.get("conditions") or [])
        if not status.get("jobsStatus"):
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None:
                ctx.schedule(float(deadline), lambda: self._deadline(ctx, job))
        existing = {p["metadata"]["name"]: p for p in common.owned(ctx, "v1", "pods", job)}
        phases = []
        for index in range((spec.get("trainer") or {}).get("numNodes") or 1):
            name = f"{meta['name']}-{NODE}-0-{index}"
            if name not in existing:
                ctx.create("v1", "pods", _pod(job, index, name))
            phases.append(common.phase(existing[name]) if name in existing else "Pending")
        failed, succeeded = "Failed" in phases, phases.count("Succeeded") == len(phases)
        status["jobsStatus"] = [
            {
                "name": NODE,
                "ready": int("Running" in phases and not failed),
                "succeeded": int(succeeded),
                "failed": int(failed),
                "active": int(not failed and not succeeded),
                "suspended": 0,
            }
        ]
        outcome = FAILED if failed else COMPLETE if succeeded else None
        if outcome is not None:
            conditions.append(_true(*outcome))
        status["conditions"] = conditions
        if status != job.get("status"):
            ctx.write_status(job, status, OPERATOR)

    def _deadline(self, ctx: Context, seen: Obj) -> None:
        job = self.unfinished(ctx, seen)
        if job is None:
            return
        status = dict(job.get("status") or {})
        status["conditions"] = [*(status.get("conditions") or []), _true(*DEADLINE)]
        if ctx.write_status(job, status, OPERATOR) is None:
            ctx.schedule(0.01, lambda: self._deadline(ctx, job))
            return
        for pod in common.owned(ctx, "v1", "pods", job):
            ctx.delete("v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])


def _true(kind: str, reason: str, message: str) -> Obj:
    return condition(kind, "True", reason, message)


def _patched_pod_template(job: Obj) -> tuple[dict[str, str], Obj]:
    """Labels and the ``node`` container's securityContext from the runtime patches, in order."""
    pod_labels: dict[str, str] = {}
    security: Obj = {}
    for patch in job["spec"].get("runtimePatches") or []:
        template = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec")
        for replicated in (template or {}).get("replicatedJobs") or []:
            if replicated.get("name") != NODE:
                continue
            pod = ((replicated.get("template") or {}).get("spec") or {}).get("template") or {}
            pod_labels.update((pod.get("metadata") or {}).get("labels") or {})
            for container in (pod.get("spec") or {}).get("containers") or []:
                if container.get("name") == NODE:
                    security = container.get("securityContext") or security
    return pod_labels, security


def _pod(job: Obj, index: int, name: str) -> Obj:
    trainer = job["spec"].get("trainer") or {}
    pod_labels, security = _patched_pod_template(job)
    container: Obj = {"name": NODE, "image": trainer.get("image") or "trainer"}
    for field in ("command", "args", "env"):
        if trainer.get(field):
            container[field] = trainer[field]
    if trainer.get("resourcesPerNode"):
        container["resources"] = trainer["resourcesPerNode"]
    if security:
        container["securityContext"] = security
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": job["metadata"]["namespace"],
            "labels": {
                **pod_labels,
                JOBSET_NAME: job["metadata"]["name"],
                f"{JOBSET}/replicatedjob-name": NODE,
                f"{JOBSET}/job-index": "0",
                COMPLETION_INDEX: str(index),
            },
            "ownerReferences": [common.owner_reference(job)],
        },
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
