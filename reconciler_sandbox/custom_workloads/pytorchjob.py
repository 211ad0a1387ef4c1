"""Simulated Kubeflow training operator for kubeflow.org/v1 PyTorchJobs.

Pods ``<job>-master-0`` and ``<job>-worker-<i>`` per ``pytorchReplicaSpecs`` entry, owned by
the PyTorchJob and labelled as the operator labels them (``training.kubeflow.org/job-name``,
``operator-name``, ``replica-type``, ``replica-index``, ``job-role`` on the master) on top of the
template's own labels. Each pod runs for the duration of the scenario job rule matching the
PyTorchJob's name and ends with its outcome; only the master writes the rule's termination
message, since the master is the process that reports. Status follows the operator: conditions
``Created`` -> ``Running`` -> ``Succeeded`` or ``Failed`` (reasons ``PyTorchJob<Type>``, and
``Running`` turned False once finished), ``replicaStatuses`` per type, ``startTime`` and
``completionTime``. The job succeeds when every master has; any failed pod fails it (the
renderer asks for ``restartPolicy: Never``, so there are no in-place restarts). Past
``runPolicy.activeDeadlineSeconds`` it fails and its pods are left, as with the default
``cleanPodPolicy: None``. The per-replica Services and rendezvous env are not simulated.
"""

from __future__ import annotations

from typing import Any

from reconciler_sandbox.controllers import Context, condition
from reconciler_sandbox.custom_workloads import common
from reconciler_sandbox.rest import now

Obj = dict[str, Any]
API_VERSION = "kubeflow.org/v1"
RESOURCE = "pytorchjobs"
KIND = "PyTorchJob"
OPERATOR = "pytorchjob-controller"
PREFIX = "training.kubeflow.org"
JOB_NAME = f"{PREFIX}/job-name"
REPLICA_TYPE = f"{PREFIX}/replica-type"
REPLICA_INDEX = f"{PREFIX}/replica-index"
# Master first: with both failing in one pass the operator names the master.
ORDER = ("Master", "Worker")


class PyTorchJobController(common.PodsOperator):
    api_version, resource, kind = API_VERSION, RESOURCE, KIND
    terminal = ("Succeeded", "Failed")

    def reports(self, pod_labels: dict[str, str]) -> bool:
        return pod_labels.get(REPLICA_TYPE) == "master"

    def sync(self, ctx: Context, seen: Obj) -> None:
        job = self.unfinished(ctx, seen)
        if job is None:
            return
        meta = job["metadata"]
        status = dict(job.get("status") or {})
        conditions = list(status.get("conditions") or [])
        if "startTime" not in status:
            status["startTime"] = now()
            deadline = (job["spec"].get("runPolicy") or {}).get("activeDeadlineSeconds")
            if deadline is not None:
                ctx.schedule(float(deadline), lambda: self._deadline(ctx, job))
        if not conditions:
            conditions.append(
                _condition("Created", "PyTorchJobCreated", f"PyTorchJob {meta['name']} is created.")
            )
        specs = job["spec"]["pytorchReplicaSpecs"]
        existing = {p["metadata"]["name"]: p for p in common.owned(ctx, "v1", "pods", job)}
        replica_statuses: Obj = {}
        outcome: tuple[str, str, str] | None = None
        for rtype in sorted(specs, key=lambda t: ORDER.index(t) if t in ORDER else len(ORDER)):
            replicas = specs[rtype].get("replicas", 1)
            phases = []
            for index in range(replicas):
                name = f"{meta['name']}-{rtype.lower()}-{index}"
                if name not in existing:
                    ctx.create("v1", "pods", _pod(job, rtype, index, name))
                phases.append(common.phase(existing[name]) if name in existing else "Pending")
            counts = {
                "active": phases.count("Running"),
                "succeeded": phases.count("Succeeded"),
                "failed": phases.count("Failed"),
            }
            selector = _selector_labels(job, rtype)
            replica_statuses[rtype] = {
                # The operator omits zero counts.
                **{k: v for k, v in counts.items() if v},
                "labelSelector": {"matchLabels": selector},
                "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
            }
            outcome = outcome or _outcome(meta, rtype, replicas, counts)
        status["replicaStatuses"] = replica_statuses
        if outcome is not None:
            status["completionTime"] = now()
            conditions = _finished_conditions(conditions, *outcome)
        elif replica_statuses.get("Master", {}).get("active") and not _has(conditions, "Running"):
            message = f"PyTorchJob {meta['namespace']}/{meta['name']} is running."
            conditions.append(_condition("Running", "PyTorchJobRunning", message))
        status["conditions"] = conditions
        if status != job.get("status"):
            ctx.write_status(job, status, OPERATOR)

    def _deadline(self, ctx: Context, seen: Obj) -> None:
        job = self.unfinished(ctx, seen)
        if job is None:
            return
        status = dict(job.get("status") or {})
        message = (
            f"Job {job['metadata']['name']} has failed because it was active longer than "
            "specified deadline"
        )
        status["completionTime"] = now()
        status["conditions"] = _finished_conditions(
            status["conditions"], "Failed", "PyTorchJobFailed", message
        )
        if ctx.write_status(job, status, OPERATOR) is None:
            ctx.schedule(0.01, lambda: self._deadline(ctx, job))


def _outcome(
    meta: Obj, rtype: str, replicas: int, counts: dict[str, int]
) -> tuple[str, str, str] | None:
    where = f"PyTorchJob {meta['namespace']}/{meta['name']}"
    if counts["failed"]:
        message = f"{where} has failed because {counts['failed']} {rtype} replica(s) failed."
        return "Failed", "PyTorchJobFailed", message
    if rtype == "Master" and counts["succeeded"] == replicas:
        return "Succeeded", "PyTorchJobSucceeded", f"{where} successfully completed."
    return None


def _condition(kind: str, reason: str, message: str) -> Obj:
    return condition(kind, "True", reason, message, update_time=True)


def _finished_conditions(conditions: list[Obj], kind: str, reason: str, message: str) -> list[Obj]:
    """The operator turns Running False when the job finishes and keeps every other condition."""
    return [
        *({**c, "status": "False"} if c["type"] == "Running" else c for c in conditions),
        _condition(kind, reason, message),
    ]


def _has(conditions: list[Obj], kind: str) -> bool:
    return any(c["type"] == kind for c in conditions)


def _selector_labels(job: Obj, rtype: str) -> dict[str, str]:
    return {
        JOB_NAME: job["metadata"]["name"],
        f"{PREFIX}/operator-name": OPERATOR,
        REPLICA_TYPE: rtype.lower(),
    }


def _pod(job: Obj, rtype: str, index: int, name: str) -> Obj:
    spec = job["spec"]["pytorchReplicaSpecs"][rtype]
    template = spec.get("template") or {}
    labels = {
        **((template.get("metadata") or {}).get("labels") or {}),
        **_selector_labels(job, rtype),
        REPLICA_INDEX: str(index),
    }
    if rtype == "Master":
        labels[f"{PREFIX}/job-role"] = "master"
    pod_spec = dict(template.get("spec") or {})
    # The operator's ExitCode policy is Never to the kubelet; it restarts pods itself.
    restart = spec.get("restartPolicy", "OnFailure")
    pod_spec["restartPolicy"] = "Never" if restart == "ExitCode" else restart
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": job["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [common.owner_reference(job)],
        },
        "spec": pod_spec,
    }
