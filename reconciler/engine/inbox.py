"""The engine's inbox: one queue of triggers, and the flags the loop and its sources share."""

from __future__ import annotations

import queue
import threading

from reconciler.cluster.cache import WatchEvent

from .options import Trigger


class Inbox:
    def __init__(self) -> None:
        self.queue: queue.Queue[Trigger] = queue.Queue()
        self.ready = threading.Event()  # caches primed: watch events are news from now on
        self.stopping = threading.Event()

    def put(self, trigger: Trigger) -> None:
        self.queue.put(trigger)

    def on_watch(self, event: WatchEvent) -> None:
        if event.owner is not None and self.ready.is_set():
            self.queue.put(Trigger("watch", event.owner))

    def on_kinds(self) -> None:
        # A CRD installed or deleted: specs that waited for it, or used it, are planned again.
        if self.ready.is_set():
            self.queue.put(Trigger("resync"))

    def take(self, timeout: float) -> list[Trigger] | None:
        """The next trigger and every one queued behind it; None when none came in time."""
        try:
            batch = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            return None
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                return batch
