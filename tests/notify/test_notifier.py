"""Notifier against a local HTTP receiver: payloads, filters, retries, no secrets in logs."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from reconciler.config import Receiver
from reconciler.errors import ConfigError
from reconciler.events import Report
from reconciler.metrics import Metrics
from reconciler.notify import Notifier, notifications
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import SpecStatus, StatusChange
from tests.notify.receiver import receiving
from tests.waiting import wait_for

HEAD = "c0ffee" + "0" * 34
FRAUD = SpecKey("ModelDeployment", "ml", "fraud")


def change(key: SpecKey, phase: Phase, before: Phase | None, message: str = "") -> StatusChange:
    previous = SpecStatus(HEAD, before) if before is not None else None
    return StatusChange(key, SpecStatus(HEAD, phase, message), previous)


def report(*changes: StatusChange) -> Report:
    return Report(HEAD, "2025-01-02T03:04:05Z", changes=changes)


def deliver(notifier: Notifier, *reports: Report) -> None:
    notifier.start()
    try:
        for one in reports:
            notifier.observe(one)
        wait_for(lambda: not notifier.pending, timeout=10, what="notifications sent")
    finally:
        notifier.stop()


def test_only_phase_changes_are_told():
    same = change(FRAUD, Phase.READY, Phase.READY, "replicas 2/2")
    new = change(SpecKey("TrainingJob", "ml", "t"), Phase.PROGRESSING, None)
    gone = StatusChange(SpecKey("Pipeline", "ml", "p"), None, SpecStatus(HEAD, Phase.READY))
    told = notifications(report(same, new, gone))
    assert [(n.name, n.phase, n.previous_phase) for n in told] == [("t", "Progressing", None)]


def test_the_json_payload_names_spec_phases_commit_and_time():
    with receiving() as receiver:
        notifier = Notifier([Receiver(url=receiver.url)], Metrics())
        failing = change(FRAUD, Phase.FAILED, Phase.PROGRESSING, "ApplyFailed: quota exceeded")
        deliver(notifier, report(failing))
    assert receiver.received == [
        {
            "kind": "ModelDeployment",
            "namespace": "ml",
            "name": "fraud",
            "phase": "Failed",
            "previousPhase": "Progressing",
            "message": "ApplyFailed: quota exceeded",
            "sourceCommit": HEAD,
            "time": "2025-01-02T03:04:05Z",
        }
    ]


def test_the_slack_payload_is_one_text():
    with receiving() as receiver:
        notifier = Notifier([Receiver(url=receiver.url, format="slack")], Metrics())
        deliver(notifier, report(change(FRAUD, Phase.FAILED, Phase.READY, "image pull failed")))
    (body,) = receiver.received
    assert list(body) == ["text"]
    assert "*ModelDeployment ml/fraud* is Failed (was Ready) at `c0ffee0`" in body["text"]
    assert body["text"].endswith(": image pull failed")


def test_filters_choose_namespaces_kinds_and_phases():
    with receiving() as everything, receiving() as filtered:
        receivers = [
            Receiver(url=everything.url),
            Receiver(
                url=filtered.url,
                namespaces=["ml"],
                kinds=["ModelDeployment"],
                phases=["Failed", "Degraded"],
            ),
        ]
        deliver(
            Notifier(receivers, Metrics()),
            report(
                change(FRAUD, Phase.FAILED, Phase.READY),
                change(FRAUD._replace(namespace="other"), Phase.FAILED, Phase.READY),
                change(SpecKey("TrainingJob", "ml", "t"), Phase.FAILED, Phase.PROGRESSING),
                change(SpecKey("ModelDeployment", "ml", "b"), Phase.READY, Phase.PROGRESSING),
            ),
        )
    assert len(everything.received) == 4
    assert [(b["namespace"], b["name"]) for b in filtered.received] == [("ml", "fraud")]


def test_a_receiver_failing_twice_gets_the_message_once():
    metrics = Metrics()
    with receiving(answers=[500, 503]) as receiver, capture_logs() as logs:
        notifier = Notifier([Receiver(url=receiver.url, name="chat")], metrics, base=0.01)
        deliver(notifier, report(change(FRAUD, Phase.FAILED, Phase.READY)))
    assert len(receiver.attempts) == 3
    assert len(receiver.received) == 1 and receiver.received[0]["name"] == "fraud"
    sent = metrics.registry.get_sample_value(
        "reconciler_notifications_total", {"receiver": "chat", "result": "sent"}
    )
    assert sent == 1
    retries = [entry for entry in logs if entry["event"] == "notification_retry"]
    assert [entry["reason"] for entry in retries] == ["HTTP 500", "HTTP 503"]
    assert "secret" not in repr(logs)  # the URL's path is the webhook's secret


def test_a_refusing_receiver_is_not_retried_and_never_named_by_url():
    metrics = Metrics()
    with receiving(answers=[403]) as receiver, capture_logs() as logs:
        deliver(
            Notifier([Receiver(url=receiver.url)], metrics, base=0.01),
            report(change(FRAUD, Phase.FAILED, Phase.READY)),
        )
    assert len(receiver.attempts) == 1
    failed = metrics.registry.get_sample_value(
        "reconciler_notifications_total", {"receiver": "receiver-1", "result": "failed"}
    )
    assert failed == 1
    assert "secret" not in repr(logs) and "127.0.0.1" not in repr(logs)


def test_a_slow_receiver_never_blocks_the_caller():
    with receiving(answers=[500] * 50) as receiver:
        notifier = Notifier([Receiver(url=receiver.url)], Metrics(), base=5.0, queue_size=2)
        notifier.start()
        try:
            for _ in range(10):
                notifier.observe(report(change(FRAUD, Phase.FAILED, Phase.READY)))
        finally:
            notifier.stop(timeout=0.5)
    assert len(receiver.attempts) <= 2


def test_the_url_comes_from_a_file(tmp_path):
    with receiving() as receiver:
        (tmp_path / "url").write_text(receiver.url + "\n")
        notifier = Notifier([Receiver(url_file=tmp_path / "url")], Metrics())
        deliver(notifier, report(change(FRAUD, Phase.READY, Phase.PROGRESSING)))
    assert len(receiver.received) == 1


def test_a_bad_url_file_is_a_config_error_without_its_content(tmp_path):
    (tmp_path / "url").write_text("hooks.example/secret-token")
    with pytest.raises(ConfigError) as raised:
        Notifier([Receiver(url_file=tmp_path / "url")], Metrics())
    assert str(tmp_path / "url") in str(raised.value)
    assert "secret-token" not in str(raised.value)
