"""Simulated Job controller and kubelet: the controller makes a Job's pods, the kubelet starts
every pod and ends those of Jobs.

Job: pods named ``<job>-<5 chars>`` owned by the Job (controller ownerReference, the
``batch.kubernetes.io/controller-uid``, ``controller-uid``, ``batch.kubernetes.io/job-name`` and
``job-name`` labels), up to ``parallelism`` at a time until ``completions`` succeed. A pod runs
for the matching scenario rule's duration, then ends Succeeded or Failed with the rule's
termination message. The Job gets ``startTime``, ``active``/``ready``/``succeeded``/``failed``,
then ``SuccessCriteriaMet`` and ``Complete`` (with ``completionTime``), or after more than
``backoffLimit`` failures ``FailureTarget`` and ``Failed`` (``BackoffLimitExceeded``); past
``activeDeadlineSeconds`` its pods are deleted and it fails with ``DeadlineExceeded``. Retries
start at once (a real controller backs off 10 s, 20 s, ...).
"""

from __future__ import annotations

import random
import string
from typing import Any

from reconciler_sandbox.controllers import Context, Controller, condition, terminating
from reconciler_sandbox.defaults import (
    JOB_NAME_LABEL,
    JOB_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
    LEGACY_JOB_UID_LABEL,
)
from reconciler_sandbox.rest import now
from reconciler_sandbox.store import Event

Obj = dict[str, Any]
KUBELET = "kubelet"


class JobController(Controller):
    resources = (("batch", "jobs"), ("", "pods"))

    def handle(self, event: Event, ctx: Context) -> None:
        if event.key == ("", "pods"):
            job_name = (event.obj["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
            if job_name and event.type != "ADDED":
                job = ctx.get("batch/v1", "jobs", event.obj["metadata"]["namespace"], job_name)
                if job is not None:
                    self.sync(ctx, job)
            return
        if event.type != "DELETED":
            self.sync(ctx, event.obj)

    def sync(self, ctx: Context, job: Obj) -> None:
        meta = job["metadata"]
        # Events can be stale by the time they are handled: act on the current object.
        current = ctx.get("batch/v1", "jobs", meta["namespace"], meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        job = current
        if terminating(job) or _finished(job):
            return
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        if spec.get("suspend"):
            return
        uid = job["metadata"]["uid"]
        pods = [
            p
            for p in ctx.list("v1", "pods", job["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
        phases = [(p.get("status") or {}).get("phase", "Pending") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = len(phases) - succeeded - failed
        completions = spec.get("completions") or 1
        first = "startTime" not in status
        if first:
            status["startTime"] = now()
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None:
                meta = job["metadata"]
                ctx.schedule(
                    float(deadline), lambda: self._deadline(ctx, meta["namespace"], meta["name"])
                )
        conditions = list(status.get("conditions") or [])
        if succeeded >= completions:
            self._finish(
                ctx,
                job,
                status,
                conditions,
                succeeded,
                failed,
                "Complete",
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            return
        if failed > spec.get("backoffLimit", 6):
            self._finish(
                ctx,
                job,
                status,
                conditions,
                succeeded,
                failed,
                "Failed",
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
            return
        wanted = min(spec.get("parallelism", 1), completions - succeeded)
        for _ in range(wanted - active):
            if self._create_pod(ctx, job) is not None:
                active += 1
        status.update(active=active, ready=active, succeeded=succeeded, failed=failed)
        status = {k: v for k, v in status.items() if v or k in ("ready",)}
        if status != (job.get("status") or {}):
            ctx.write_status(job, status)

    def _finish(
        self,
        ctx: Context,
        job: Obj,
        status: Obj,
        conditions: list[Obj],
        succeeded: int,
        failed: int,
        final: str,
        interim: str,
        reason: str,
        message: str,
    ) -> None:
        status.update(active=0, ready=0, succeeded=succeeded, failed=failed)
        status = {k: v for k, v in status.items() if v or k == "ready"}
        types = {c["type"] for c in conditions}
        if interim not in types:
            # Two writes, as the real controller makes: the target condition, then the final one.
            status["conditions"] = [*conditions, condition(interim, "True", reason, message)]
            written = ctx.write_status(job, status)
            if written is None:
                return
            job, conditions = written, status["conditions"]
        status = dict(job.get("status") or {})
        status["conditions"] = [*conditions, condition(final, "True", reason, message)]
        if final == "Complete":
            status["completionTime"] = now()
        ctx.write_status(job, status)

    def _create_pod(self, ctx: Context, job: Obj) -> Obj | None:
        meta = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update(
            {
                JOB_UID_LABEL: meta["uid"],
                LEGACY_JOB_UID_LABEL: meta["uid"],
                JOB_NAME_LABEL: meta["name"],
                LEGACY_JOB_NAME_LABEL: meta["name"],
            }
        )
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": dict(template.get("spec") or {}),
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        return ctx.create("v1", "pods", pod)

    def _deadline(self, ctx: Context, namespace: str, name: str) -> None:
        job = ctx.get("batch/v1", "jobs", namespace, name)
        if job is None or terminating(job) or _finished(job):
            return
        uid = job["metadata"]["uid"]
        failed = 0
        for pod in ctx.list("v1", "pods", namespace):
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or []):
                phase = (pod.get("status") or {}).get("phase")
                if phase == "Failed":
                    failed += 1
                elif phase != "Succeeded":
                    ctx.delete("v1", "pods", namespace, pod["metadata"]["name"])
                    failed += 1
        job = ctx.get("batch/v1", "jobs", namespace, name) or job
        status = dict(job.get("status") or {})
        self._finish(
            ctx,
            job,
            status,
            list(status.get("conditions") or []),
            status.get("succeeded", 0),
            failed,
            "Failed",
            "FailureTarget",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        )


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class PodController(Controller):
    """The kubelet: pods start running at once; Job pods end as the scenario's rule says."""

    resources = (("", "pods"),)

    def handle(self, event: Event, ctx: Context) -> None:
        pod = event.obj
        if event.type != "ADDED" or (pod.get("status") or {}).get("phase") not in (None, "Pending"):
            return
        started = now()
        containers = (pod.get("spec") or {}).get("containers") or []
        running = ctx.write_status(
            pod,
            {
                "phase": "Running",
                "startTime": started,
                "containerStatuses": [
                    _container_status(c, {"running": {"startedAt": started}}) for c in containers
                ],
            },
            KUBELET,
        )
        labels = pod["metadata"].get("labels") or {}
        job_name = labels.get(JOB_NAME_LABEL)
        if running is None or not job_name:
            return
        rule = ctx.scenario.job_rule(pod["metadata"]["namespace"], job_name)
        meta = pod["metadata"]
        ctx.schedule(
            rule.duration,
            lambda: self._terminate(ctx, meta["namespace"], meta["name"], rule, started),
        )

    def _terminate(self, ctx: Context, namespace: str, name: str, rule: Any, started: str) -> None:
        pod = ctx.get("v1", "pods", namespace, name)
        if pod is None or terminating(pod):
            return
        finished = now()
        terminated: Obj = {
            "exitCode": rule.code,
            "reason": "Completed" if rule.outcome == "Succeeded" else "Error",
            "startedAt": started,
            "finishedAt": finished,
        }
        if rule.message:
            terminated["message"] = rule.message
        containers = (pod.get("spec") or {}).get("containers") or []
        status = {
            **(pod.get("status") or {}),
            "phase": rule.outcome,
            "containerStatuses": [
                _container_status(c, {"terminated": terminated}) for c in containers
            ],
        }
        if ctx.write_status(pod, status, KUBELET) is None:
            ctx.schedule(0.01, lambda: self._terminate(ctx, namespace, name, rule, started))


def _container_status(container: Obj, state: Obj) -> Obj:
    return {
        "name": container.get("name", ""),
        "image": container.get("image", ""),
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "started": "running" in state,
        "state": state,
    }
