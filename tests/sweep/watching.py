"""What the tests of this folder observe in the cluster: trial Jobs and how many ran at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kubernetes import client as k8s

from reconciler import labels


def _finished(job: k8s.V1Job) -> bool:
    conditions = (job.status.conditions if job.status else None) or []
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)


def trial_jobs(batch: k8s.BatchV1Api, namespace: str) -> list[k8s.V1Job]:
    """The namespace's trial Jobs in the order they were created."""
    jobs = batch.list_namespaced_job(namespace, label_selector=labels.SWEEP).items
    return sorted(jobs, key=lambda job: job.metadata.annotations[labels.CREATED_AT])


@dataclass
class Concurrency:
    """The most unfinished trial Jobs seen at once, polled every few milliseconds."""

    most: int = 0
    polls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def watching_concurrency(batch: k8s.BatchV1Api, namespace: str) -> Iterator[Concurrency]:
    seen = Concurrency()

    def poll() -> None:
        while not seen.stop.wait(0.005):
            running = [job for job in trial_jobs(batch, namespace) if not _finished(job)]
            seen.most = max(seen.most, len(running))
            seen.polls += 1

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        seen.stop.set()
        thread.join(5)
