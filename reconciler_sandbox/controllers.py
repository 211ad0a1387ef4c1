"""Simulated controllers: one background thread reacting to store events, plus timers.

A controller is a small class naming the resources it watches (``resources``, storage keys like
``("apps", "deployments")``) and reacting to each event in ``handle``; it acts only through the
``Context`` (reads, creates, deletes, status writes through the normal write pipeline, and
``schedule`` for delayed work such as "become Available in 0.5 s"). Everything runs on one
thread, so controllers need no locks; handlers must be idempotent because they also see the
events of their own writes. Custom-resource controllers are added the same way::

    class RayJobController(Controller):
        resources = (("ray.io", "rayjobs"),)
        def handle(self, event, ctx): ...

    sandbox.controllers.register(RayJobController())
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from reconciler_sandbox import errors
from reconciler_sandbox.deletion import DeleteOptions
from reconciler_sandbox.rest import WriteOptions, now
from reconciler_sandbox.store import Event

if TYPE_CHECKING:
    from reconciler_sandbox.core import Sandbox

Obj = dict[str, Any]
log = structlog.get_logger("reconciler_sandbox.controllers")
MANAGER = "kube-controller-manager"


class Controller:
    resources: tuple[tuple[str, str], ...] = ()

    def handle(self, event: Event, ctx: Context) -> None:
        raise NotImplementedError


class Context:
    """What controllers may do: read, write through the API, and schedule work."""

    def __init__(self, sandbox: Sandbox, runtime: Runtime) -> None:
        self.sandbox = sandbox
        self._runtime = runtime

    @property
    def scenario(self) -> Any:
        return self.sandbox.scenario

    @property
    def deployment_delay(self) -> float:
        delay = self.sandbox.scenario.deployment_delay
        return self.sandbox.deployment_delay if delay is None else delay

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        self._runtime.schedule(delay, action)

    def get(self, api_version: str, resource: str, namespace: str, name: str) -> Obj | None:
        rt = self.sandbox.registry.lookup(api_version, resource)
        return self.sandbox.api.find(rt, namespace, name)

    def list(self, api_version: str, resource: str, namespace: str) -> list[Obj]:
        rt = self.sandbox.registry.lookup(api_version, resource)
        return [s.obj for s in self.sandbox.store.list(rt.key, namespace)]

    def create(
        self, api_version: str, resource: str, obj: Obj, manager: str = MANAGER
    ) -> Obj | None:
        rt = self.sandbox.registry.lookup(api_version, resource)
        namespace = obj["metadata"].get("namespace", "")
        try:
            return self.sandbox.api.create(
                rt, namespace, obj, WriteOptions(field_manager=manager)
            ).stored.obj
        except errors.StatusError as exc:
            log.info("controller create refused", resource=resource, reason=exc.reason)
            return None

    def delete(self, api_version: str, resource: str, namespace: str, name: str) -> None:
        rt = self.sandbox.registry.lookup(api_version, resource)
        with contextlib.suppress(errors.StatusError):  # already gone
            self.sandbox.deleter.delete(
                rt, namespace, name, DeleteOptions(propagation="Background")
            )

    def write_status(self, obj: Obj, status: Obj, manager: str = MANAGER) -> Obj | None:
        """Replace ``obj``'s status if it is still current; None when it changed or went away."""
        rt = self.sandbox.registry.lookup(obj["apiVersion"], _resource_of(self.sandbox, obj))
        body = {**obj, "metadata": dict(obj["metadata"]), "status": status}
        try:
            written = self.sandbox.api.update(
                rt,
                obj["metadata"].get("namespace", ""),
                obj["metadata"]["name"],
                body,
                WriteOptions(field_manager=manager),
                subresource="status",
            )
        except errors.StatusError as exc:
            if exc.code not in (404, 409):
                log.warning(
                    "controller status write failed",
                    name=obj["metadata"]["name"],
                    reason=exc.reason,
                )
            return None
        return written.stored.obj


def _resource_of(sandbox: Sandbox, obj: Obj) -> str:
    rt = sandbox.registry.by_kind(obj["apiVersion"], obj["kind"])
    if rt is None:
        raise errors.path_not_found()
    return rt.resource


class Runtime:
    """The controller thread: store events in order, then due timers."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.context = Context(sandbox, self)
        self._sandbox = sandbox
        self._controllers: list[Controller] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._feed = sandbox.store.subscribe()
        self._thread = threading.Thread(target=self._run, name="sandbox-controllers", daemon=True)

    def register(self, controller: Controller) -> None:
        self._controllers.append(controller)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        # Only ever called on the controller thread, so the heap needs no lock.
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), action))

    def _run(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                event = self._feed.get(timeout=timeout)
            except queue.Empty:  # a timer is due
                event = False
            if event is None:
                return
            if event:
                self._dispatch(event)
            while self._timers and self._timers[0][0] <= time.monotonic():
                _, _, action = heapq.heappop(self._timers)
                self._safely(action)

    def _dispatch(self, event: Event) -> None:
        for controller in self._controllers:
            if event.key in controller.resources:
                self._safely(lambda c=controller: c.handle(event, self.context))

    def _safely(self, action: Callable[[], None]) -> None:
        try:
            with self._sandbox.store.lock:
                action()
        except Exception:
            log.exception("controller failed")


def terminating(obj: Obj) -> bool:
    """Being deleted: what a controller must not bring back to life."""
    return bool(obj["metadata"].get("deletionTimestamp"))


def condition(
    kind: str,
    status: str,
    reason: str,
    message: str,
    previous: list[Obj] | None = None,
    update_time: bool = False,
) -> Obj:
    """A condition keeping its lastTransitionTime while its status stays the same."""
    stamp = now()
    old = next((c for c in previous or [] if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else stamp
    out = {"type": kind, "status": status}
    if update_time:
        out["lastUpdateTime"] = (
            stamp if not old or old.get("reason") != reason else old.get("lastUpdateTime", stamp)
        )
    out.update(lastTransitionTime=since, reason=reason, message=message)
    return out
