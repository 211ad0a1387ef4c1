"""WebhookReceiver.handle and its module functions called directly: URL forms, dedupe, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.source.webhook import (
    DEDUPE_ENTRIES,
    DEDUPE_SECONDS,
    WebhookReceiver,
    load_secret,
    repository_key,
)
from tests.webhook.conftest import (
    BRANCH,
    REPO,
    SECRET,
    Pushes,
    github_headers,
    github_push,
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
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, clock=clock)
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
