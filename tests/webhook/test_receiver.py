"""WebhookReceiver.handle and its module functions called directly: URL forms, dedupe, limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.source.webhook import (
    DEDUPE_ENTRIES,
    DEDUPE_SECONDS,
    TIMESTAMP_WINDOW,
    Throttle,
    WebhookReceiver,
    load_secret,
    repository_key,
)
from tests.waiting import wait_for
from tests.webhook.conftest import (
    BRANCH,
    REPO,
    SECRET,
    Pushes,
    generic_headers,
    github_headers,
    github_push,
    sign,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/ml-specs",
        "https://github.com/example/ml-specs.git",
        "https://github.com/example/ml-specs/",
        "https://GitHub.COM/example/ml-specs.git/",
        "http://github.com/example/ml-specs",
        "https://token:x-oauth@github.com:443/example/ml-specs.git",
        "ssh://git@github.com/example/ml-specs.git",
        "ssh://git@github.com:22/example/ml-specs",
        "git@github.com:example/ml-specs.git",
        "github.com:example/ml-specs",
    ],
)
def test_forms_of_one_repository_compare_equal(url: str) -> None:
    assert repository_key(url) == "github.com/example/ml-specs"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/ml-specs-fork",
        "https://github.com/Example/ML-Specs",  # paths are case-sensitive on many hosts
        "https://gitlab.com/example/ml-specs",
        "git@github.com:example/ml-specs/sub.git",
    ],
)
def test_other_repositories_differ(url: str) -> None:
    assert repository_key(url) != "github.com/example/ml-specs"


def test_duplicate_window_and_bound() -> None:
    clock, pushes = Clock(), Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, clock=clock, min_interval=0)
    body = github_push()
    headers = _lower(github_headers(body, delivery="one"))
    assert receiver.handle(headers, body).status == 202
    clock.now += DEDUPE_SECONDS - 1
    assert receiver.handle(headers, body).status == 200
    # A redelivery asked for long after is a deliberate request for a fetch.
    clock.now += 2
    assert receiver.handle(headers, body).status == 202
    for n in range(DEDUPE_ENTRIES):
        receiver.handle(_lower(github_headers(body, delivery=f"other-{n}")), body)
    assert receiver.handle(headers, body).status == 202  # evicted: the memory is bounded
    assert pushes.count == 3 + DEDUPE_ENTRIES


def test_unsigned_delivery_id_cannot_block_a_real_delivery() -> None:
    pushes = Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes)
    body = github_push()
    headers = _lower(github_headers(body, delivery="target"))
    forged = {**headers, "x-hub-signature-256": "sha256=" + "0" * 64}
    assert receiver.handle(forged, body).status == 401
    assert receiver.handle(headers, body).status == 202
    assert pushes.count == 1


def test_handle_refuses_oversize_bodies_itself() -> None:
    pushes = Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, max_body=64)
    body = github_push()
    response = receiver.handle(_lower(github_headers(body)), body)
    assert (response.status, response.body) == (413, b"payload too large\n")
    assert pushes.count == 0


def test_other_github_events_are_ignored() -> None:
    pushes = Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes)
    body = github_push()
    response = receiver.handle(_lower(github_headers(body, event="pull_request")), body)
    assert (response.status, response.body) == (202, b"ignored: not a push event\n")
    assert pushes.count == 0


def test_secret_is_not_in_the_receivers_repr() -> None:
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, Pushes())
    assert SECRET.decode() not in repr(receiver)


def test_empty_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="empty"):
        WebhookReceiver(b"", REPO, BRANCH, Pushes())


def test_load_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    assert load_secret(path) == SECRET
    path.write_bytes(b"\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_secret(path)
    with pytest.raises(ConfigError, match="cannot read webhook secret file"):
        load_secret(tmp_path / "absent")


def _generic(body: bytes, timestamp: int) -> dict[str, str]:
    return _lower(generic_headers(body, timestamp))


GENERIC_BODY = json.dumps({"ref": f"refs/heads/{BRANCH}", "repository": REPO}).encode()


def test_generic_replay_is_a_duplicate_and_stale_timestamps_are_refused() -> None:
    clock, pushes = Clock(), Pushes()
    clock.now = 1_700_000_000.0
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, clock=clock, min_interval=0)
    sent = int(clock.now)
    assert receiver.handle(_generic(GENERIC_BODY, sent), GENERIC_BODY).status == 202
    replay = receiver.handle(_generic(GENERIC_BODY, sent), GENERIC_BODY)
    assert (replay.status, replay.body) == (200, b"duplicate delivery\n")
    # A new timestamp is a new delivery, within the window either way.
    assert receiver.handle(_generic(GENERIC_BODY, sent + 1), GENERIC_BODY).status == 202
    clock.now += TIMESTAMP_WINDOW + 1
    stale = receiver.handle(_generic(GENERIC_BODY, sent), GENERIC_BODY)
    assert (stale.status, stale.body) == (401, b"stale timestamp\n")
    future = receiver.handle(_generic(GENERIC_BODY, int(clock.now) + 400), GENERIC_BODY)
    assert future.status == 401
    assert pushes.count == 2


def test_generic_timestamp_is_signed_and_required() -> None:
    clock, pushes = Clock(), Pushes()
    clock.now = 1_700_000_000.0
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, clock=clock, min_interval=0)
    signed = _generic(GENERIC_BODY, int(clock.now) - 100)
    # Replaying a captured request with a fresh timestamp breaks its signature.
    forged = {**signed, "x-signature-timestamp": str(int(clock.now))}
    assert receiver.handle(forged, GENERIC_BODY).status == 401
    missing = {key: value for key, value in signed.items() if key != "x-signature-timestamp"}
    response = receiver.handle(missing, GENERIC_BODY)
    assert (response.status, response.body) == (401, b"missing timestamp\n")
    body_signature_only = {**missing, "x-signature-256": sign(GENERIC_BODY)}
    assert receiver.handle(body_signature_only, GENERIC_BODY).status == 401
    assert receiver.handle(signed, GENERIC_BODY).status == 202
    assert pushes.count == 1


def test_gitlab_retry_with_the_same_idempotency_key_is_a_duplicate() -> None:
    pushes = Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, min_interval=0)
    body = json.dumps({"ref": f"refs/heads/{BRANCH}", "project": {"git_http_url": REPO}}).encode()
    headers = {
        "x-gitlab-event": "Push Hook",
        "x-gitlab-token": SECRET.decode(),
        "idempotency-key": "8a7c3c1e-retry-key",
    }
    first = {**headers, "x-gitlab-event-uuid": "uuid-1"}
    retry = {**headers, "x-gitlab-event-uuid": "uuid-2"}  # a retry may carry a new UUID
    assert receiver.handle(first, body).status == 202
    assert receiver.handle(retry, body).status == 200
    assert pushes.count == 1


def test_a_burst_of_hooks_makes_two_triggers_and_the_last_push_is_fetched() -> None:
    pushes = Pushes()
    interval = 0.3
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, min_interval=interval)
    body = github_push()
    started = time.monotonic()
    for n in range(50):
        assert receiver.handle(_lower(github_headers(body, delivery=f"d{n}")), body).status == 202
    assert time.monotonic() - started < interval, "the burst must fit in one interval"
    assert pushes.count == 1  # the first at once, the rest share one deferred trigger
    wait_for(lambda: pushes.count == 2, timeout=5, what="the deferred trigger")
    assert time.monotonic() - started >= interval


def test_throttle_bounds_triggers_over_time() -> None:
    pushes = Pushes()
    throttle = Throttle(pushes, 0.1)
    started = time.monotonic()
    while time.monotonic() - started < 0.55:
        throttle()
    wait_for(lambda: pushes.count >= 2, timeout=5, what="triggers")
    elapsed = time.monotonic() - started
    # A call every few microseconds for 0.55 s: at most one run per 0.1 s, plus the trailing one.
    assert 5 <= pushes.count <= elapsed / 0.1 + 2
