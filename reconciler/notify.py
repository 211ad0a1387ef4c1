"""Phase changes told to webhooks: a generic JSON payload, or a Slack incoming-webhook message.

Each receiver has its own sender thread and bounded queue, so a slow or failing receiver delays
only its own messages, never the loop nor the other receivers. A POST that fails (a 5xx or 429
answer, a timeout, a refused connection) is retried with backoff (``reconciler.backoff``) up to
``attempts`` times, then dropped and counted; other 4xx answers are not retried. A receiver's URL
is a secret (it grants posting): logs and metrics name the receiver, never its URL. Payloads carry
what the status branch carries (spec, phase, message, commit), so no secret either.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from reconciler import backoff
from reconciler.config import Receiver
from reconciler.errors import ConfigError
from reconciler.events import Report
from reconciler.metrics import Metrics
from reconciler.phase import FAILING, HEALTHY

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Notification:
    """One spec's phase change, in the words of its status file."""

    kind: str
    namespace: str
    name: str
    phase: str
    previous_phase: str | None
    message: str
    source_commit: str
    time: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "phase": self.phase,
            "previousPhase": self.previous_phase,
            "message": self.message,
            "sourceCommit": self.source_commit,
            "time": self.time,
        }

    def to_slack(self) -> dict[str, Any]:
        if self.phase in FAILING:
            mark = ":red_circle:"
        else:
            mark = ":large_green_circle:" if self.phase in HEALTHY else ":hourglass:"
        was = f" (was {self.previous_phase})" if self.previous_phase else ""
        text = (
            f"{mark} *{self.kind} {self.namespace}/{self.name}* is {self.phase}{was} "
            f"at `{self.source_commit[:7]}`"
        )
        if self.message:
            text += f": {self.message}"
        return {"text": text}


def notifications(report: Report) -> list[Notification]:
    """The phase changes in a report; a new spec's first phase is one, a removal is not."""
    found = []
    for change in report.changes:
        status, previous = change.status, change.previous
        if status is None or (previous is not None and previous.phase == status.phase):
            continue
        key = change.key
        found.append(
            Notification(
                kind=key.kind,
                namespace=key.namespace,
                name=key.name,
                phase=str(status.phase),
                previous_phase=str(previous.phase) if previous is not None else None,
                message=status.message,
                source_commit=status.observed_commit,
                time=report.time,
            )
        )
    return found


def wants(receiver: Receiver, notification: Notification) -> bool:
    return (
        (receiver.namespaces is None or notification.namespace in receiver.namespaces)
        and (receiver.kinds is None or notification.kind in receiver.kinds)
        and (receiver.phases is None or notification.phase in receiver.phases)
    )


def payload(receiver: Receiver, notification: Notification) -> dict[str, Any]:
    return notification.to_slack() if receiver.format == "slack" else notification.to_json()


class _Channel:
    """One receiver: its queue and the thread that POSTs from it."""

    def __init__(self, name: str, receiver: Receiver, url: str, notifier: Notifier) -> None:
        self.name = name
        self.receiver = receiver
        self._url = url
        self._notifier = notifier
        self.queue: queue.Queue[Notification] = queue.Queue(notifier.queue_size)
        self.thread = threading.Thread(target=self._run, name=f"notify-{name}", daemon=True)

    def _run(self) -> None:
        notifier = self._notifier
        while not notifier.abort.is_set():
            try:
                notification = self.queue.get(timeout=0.1)
            except queue.Empty:
                if notifier.closing.is_set():
                    return
                continue
            try:
                self._deliver(notification)
            finally:
                self.queue.task_done()

    def _deliver(self, notification: Notification) -> None:
        notifier = self._notifier
        body = json.dumps(payload(self.receiver, notification)).encode()
        for attempt in range(1, notifier.attempts + 1):
            why, retry = self._post(body)
            if why is None:
                notifier.metrics.notifications.labels(self.name, "sent").inc()
                return
            if not retry or attempt == notifier.attempts:
                break
            wait = backoff.delay(attempt, base=notifier.base, cap=notifier.cap)
            log.info("notification_retry", receiver=self.name, reason=why, retry_in=round(wait, 2))
            if notifier.abort.wait(wait):
                break
        notifier.metrics.notifications.labels(self.name, "failed").inc()
        log.warning(
            "notification_failed",
            receiver=self.name,
            reason=why,
            spec=f"{notification.kind}/{notification.namespace}/{notification.name}",
        )

    def _post(self, body: bytes) -> tuple[str | None, bool]:
        """None when delivered, else why (never the URL) and whether a retry may help."""
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "reconciler"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._notifier.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}", exc.code >= 500 or exc.code == 429
        except urllib.error.URLError as exc:
            return type(exc.reason).__name__, True
        except OSError as exc:  # a timeout while reading, a reset connection
            return type(exc).__name__, True
        return None, False


class Notifier:
    """``observe`` reports (from the worker), ``start`` the senders, ``stop`` to flush."""

    def __init__(
        self,
        receivers: Sequence[Receiver],
        metrics: Metrics,
        *,
        attempts: int = 5,
        base: float = 1.0,
        cap: float = 30.0,
        timeout: float = 10.0,
        queue_size: int = 256,
    ) -> None:
        self.metrics = metrics
        self.attempts, self.base, self.cap, self.timeout = attempts, base, cap, timeout
        self.queue_size = queue_size
        self.closing = threading.Event()
        self.abort = threading.Event()
        self.channels = [
            _Channel(receiver.name or f"receiver-{index}", receiver, _url(receiver), self)
            for index, receiver in enumerate(receivers, start=1)
        ]

    @property
    def pending(self) -> bool:
        return any(channel.queue.unfinished_tasks for channel in self.channels)

    def start(self) -> None:
        for channel in self.channels:
            channel.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, for at most ``timeout`` seconds in all, then give up."""
        self.closing.set()
        started = [channel.thread for channel in self.channels if channel.thread.is_alive()]
        for thread in started:
            thread.join(timeout / max(1, len(started)))
        self.abort.set()
        for thread in started:
            thread.join(1.0)

    def observe(self, report: Report) -> None:
        if not self.channels or not report.changes:
            return
        try:
            for notification in notifications(report):
                for channel in self.channels:
                    if wants(channel.receiver, notification):
                        self._enqueue(channel, notification)
        except Exception:  # telling is best effort: it never fails the reconcile that reports
            log.exception("notifications_not_queued")

    def _enqueue(self, channel: _Channel, notification: Notification) -> None:
        try:
            channel.queue.put_nowait(notification)
        except queue.Full:
            self.metrics.notifications.labels(channel.name, "dropped").inc()
            log.warning("notification_dropped", receiver=channel.name, reason="queue full")


def _url(receiver: Receiver) -> str:
    if receiver.url is not None:
        url, where = receiver.url.get_secret_value().strip(), "a notify receiver's url"
    else:
        assert receiver.url_file is not None  # the settings model insists on one of the two
        where = str(receiver.url_file)
        try:
            url = receiver.url_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read notify receiver URL file {where}: {exc.strerror}"
            ) from None
    if not url.startswith(("http://", "https://")):
        # Say where the URL came from, never what it is.
        raise ConfigError(f"{where}: a receiver URL must start with http:// or https://")
    return url
