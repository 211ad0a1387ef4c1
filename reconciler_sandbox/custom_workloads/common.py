"""What the simulated operators share: ownership, owned pods and the kubelet's last word.

The sandbox's kubelet (``jobs.PodController``) starts every pod but ends only Job pods;
pods an operator creates directly are ended here, with the scenario's job rule.
"""

from __future__ import annotations

from typing import Any

from reconciler_sandbox.controllers import Context, Controller
from reconciler_sandbox.rest import now
from reconciler_sandbox.scenario import JobRule
from reconciler_sandbox.store import Event

Obj = dict[str, Any]
KUBELET = "kubelet"


def gone(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def current(ctx: Context, api_version: str, resource: str, seen: Obj) -> Obj | None:
    """The live version of ``seen``: events can be stale by the time they are handled, and a
    same-named object may have replaced it."""
    meta = seen["metadata"]
    obj = ctx.get(api_version, resource, meta["namespace"], meta["name"])
    if obj is None or gone(obj) or obj["metadata"]["uid"] != meta["uid"]:
        return None
    return obj


def owner_reference(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj, kind: str) -> str | None:
    """The name of ``obj``'s controlling owner when it is a ``kind``."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller"):
            return str(ref["name"])
    return None


def owned(ctx: Context, api_version: str, resource: str, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        obj
        for obj in ctx.list(api_version, resource, owner["metadata"]["namespace"])
        if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
    ]


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def started_running(old: Obj | None, new: Obj) -> bool:
    return phase(new) == "Running" and (old is None or phase(old) != "Running")


def terminate(ctx: Context, namespace: str, name: str, rule: JobRule, message: str) -> None:
    """End a running pod's containers as ``rule`` says, ``message`` as the termination message."""
    pod = ctx.get("v1", "pods", namespace, name)
    if pod is None or gone(pod) or phase(pod) != "Running":
        return
    status = dict(pod["status"])
    terminated: Obj = {
        "exitCode": rule.code,
        "reason": "Completed" if rule.outcome == "Succeeded" else "Error",
        "startedAt": status.get("startTime") or now(),
        "finishedAt": now(),
    }
    if message:
        terminated["message"] = message
    status["phase"] = rule.outcome
    status["containerStatuses"] = [
        {**container, "ready": False, "started": False, "state": {"terminated": terminated}}
        for container in status.get("containerStatuses") or []
    ]
    if ctx.write_status(pod, status, KUBELET) is None:
        ctx.schedule(0.01, lambda: terminate(ctx, namespace, name, rule, message))


class PodsOperator(Controller):
    """An operator that runs its custom resource as pods it owns (PyTorchJob, TrainJob).

    Each pod runs for the duration of the scenario's job rule matching the owner's name and ends
    with its outcome; only the reporting pod writes the rule's termination message. Any change
    to an owned pod syncs the owner. Subclasses name their resource, the condition types that
    end it, which pod reports, and what one sync makes of the pods.
    """

    api_version: str
    resource: str
    kind: str
    terminal: tuple[str, ...]  # condition types that, once True, end the job

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.resources = ((cls.api_version.rpartition("/")[0], cls.resource), ("", "pods"))

    def reports(self, pod_labels: dict[str, str]) -> bool:
        """Whether this pod is the process that writes the run's metrics."""
        raise NotImplementedError

    def sync(self, ctx: Context, seen: Obj) -> None:
        raise NotImplementedError

    def handle(self, event: Event, ctx: Context) -> None:
        if event.key == ("", "pods"):
            self._pod_event(event, ctx)
        elif event.type != "DELETED":
            self.sync(ctx, event.obj)

    def unfinished(self, ctx: Context, seen: Obj) -> Obj | None:
        """The job as it is now, or None once it is gone or finished."""
        job = current(ctx, self.api_version, self.resource, seen)
        return None if job is None or self.finished(job) else job

    def finished(self, job: Obj) -> bool:
        return any(
            c.get("type") in self.terminal and c.get("status") == "True"
            for c in (job.get("status") or {}).get("conditions") or []
        )

    def _pod_event(self, event: Event, ctx: Context) -> None:
        name = controller_of(event.obj, self.kind)
        if name is None or event.type == "ADDED":
            return
        meta = event.obj["metadata"]
        if event.type == "MODIFIED" and started_running(event.old, event.obj):
            rule = ctx.scenario.job_rule(meta["namespace"], name)
            message = rule.message if self.reports(meta.get("labels") or {}) else ""
            ctx.schedule(
                rule.duration,
                lambda: terminate(ctx, meta["namespace"], meta["name"], rule, message),
            )
        job = ctx.get(self.api_version, self.resource, meta["namespace"], name)
        if job is not None:
            self.sync(ctx, job)
