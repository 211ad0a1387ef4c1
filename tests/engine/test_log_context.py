"""Log context in the writer's worker threads: the reconcile's commit, and the spec written for."""

from __future__ import annotations

import threading
from typing import Any

import structlog

from reconciler.cluster.apply import Writer
from reconciler.cluster.discovery import Resource
from reconciler.inventory import ObjectRef
from reconciler.specs.loaded import SpecKey


class RecordingClient:
    """Stands in for the API server (tests/cluster covers the real one): it answers every
    request and notes the context variables of the thread that made it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        with self._lock:
            self.seen.append(dict(structlog.contextvars.get_contextvars()))
            self.threads.add(threading.current_thread().name)
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": path}}


class OneKind:
    def resource(self, api_version: str, kind: str) -> Resource:
        return Resource(api_version, kind, "configmaps", True)


def config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ml"}}


def test_worker_threads_log_with_the_commit_and_the_spec() -> None:
    client = RecordingClient()
    writer = Writer(client, OneKind(), concurrency=3)  # type: ignore[arg-type]
    objects = [config_map(f"cm-{i}") for i in range(6)]
    owners = {
        ObjectRef.from_object(obj): SpecKey("ModelDeployment", "ml", obj["metadata"]["name"])
        for obj in objects
    }
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(commit="c0ffee")
    try:
        results = writer.apply(objects, owners)
        writer.delete(list(owners), owners)
    finally:
        structlog.contextvars.clear_contextvars()
    assert all(result.ok for result in results)
    assert any(name.startswith("apply") for name in client.threads)
    assert len(client.seen) == 12
    assert all(seen["commit"] == "c0ffee" for seen in client.seen)
    assert {seen["spec"] for seen in client.seen} == {str(spec) for spec in owners.values()}
    # Binding the spec in a task never leaks into the caller's context.
    assert "spec" not in structlog.contextvars.get_contextvars()
