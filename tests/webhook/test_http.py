"""The signature matrix through a real HTTP server: what triggers a fetch, what is refused."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse

from structlog.testing import capture_logs

from reconciler.httpserver import MAX_BODY, ServiceServer
from reconciler.source.webhook import HOOK_PATH, MIN_TRIGGER_INTERVAL, WebhookReceiver
from tests.waiting import wait_for
from tests.webhook.conftest import (
    BRANCH,
    REPO,
    SECRET,
    Hook,
    Pushes,
    Reply,
    generic_headers,
    github_headers,
    github_push,
    sign,
)

TRIGGERED = Reply(202, "fetch triggered\n")
IGNORED = Reply(202, "ignored: not the tracked branch\n")


def test_github_push_to_the_tracked_branch_triggers_a_fetch(hook: Hook) -> None:
    body = github_push()
    assert hook.post(body, github_headers(body)) == TRIGGERED
    assert hook.pushes.count == 1


def test_github_form_encoded_payload_is_accepted(hook: Hook) -> None:
    # GitHub's default content type wraps the JSON in a form field; the HMAC covers the form.
    body = urllib.parse.urlencode({"payload": github_push().decode()}).encode()
    headers = {**github_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert hook.post(body, headers) == TRIGGERED
    assert hook.pushes.count == 1


def test_gitlab_push_with_the_right_token_triggers_a_fetch(hook: Hook) -> None:
    body = json.dumps(
        {
            "ref": f"refs/heads/{BRANCH}",
            "project": {
                "git_http_url": "https://gitlab.example.com/other/path.git",
                "git_ssh_url": "git@GitHub.com:example/ml-specs.git",
                "web_url": "https://gitlab.example.com/other/path",
            },
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": SECRET.decode(),
        "X-Gitlab-Event-UUID": "7d0d1a7c-0000-4000-8000-000000000001",
    }
    assert hook.post(body, headers) == TRIGGERED
    assert hook.pushes.count == 1


def test_generic_signed_push_triggers_a_fetch(hook: Hook) -> None:
    body = json.dumps(
        {"ref": f"refs/heads/{BRANCH}", "repository": "ssh://git@github.com/example/ml-specs/"}
    ).encode()
    assert hook.post(body, generic_headers(body)) == TRIGGERED
    # curl -d and urllib label any body a form; only GitHub really sends one.
    # (Another second: the same body at the same time would be the same delivery.)
    earlier = generic_headers(body, int(time.time()) - 1)
    form = {**earlier, "Content-Type": "application/x-www-form-urlencoded"}
    assert hook.post(body, form) == TRIGGERED
    assert hook.pushes.count == 2


def test_invalid_signature_is_unauthorised(hook: Hook) -> None:
    body = github_push()
    headers = {**github_headers(body), "X-Hub-Signature-256": sign(body, b"another secret")}
    assert hook.post(body, headers) == Reply(401, "bad signature\n")
    tampered = body.replace(b"PAYLOAD-MARK", b"PAYLOAD-MORK")
    assert hook.post(tampered, github_headers(body)) == Reply(401, "bad signature\n")
    assert hook.pushes.count == 0


def test_missing_signature_is_unauthorised(hook: Hook) -> None:
    body = github_push()
    headers = github_headers(body)
    del headers["X-Hub-Signature-256"]
    assert hook.post(body, headers) == Reply(401, "missing signature\n")
    generic = json.dumps({"ref": "refs/heads/main", "repository": "x"}).encode()
    assert hook.post(generic, {"Content-Type": "application/json"}).status == 401
    assert hook.pushes.count == 0


def test_gitlab_wrong_or_missing_token_is_unauthorised(hook: Hook) -> None:
    body = json.dumps({"ref": "refs/heads/main", "project": {}}).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"}
    assert hook.post(body, headers) == Reply(401, "bad token\n")
    assert hook.post(body, {"X-Gitlab-Event": "Push Hook"}) == Reply(401, "missing token\n")
    assert hook.pushes.count == 0


def test_push_to_another_branch_is_ignored(hook: Hook) -> None:
    body = github_push(ref="refs/heads/feature")
    assert hook.post(body, github_headers(body)) == IGNORED
    tag = github_push(ref=f"refs/tags/{BRANCH}")
    assert hook.post(tag, github_headers(tag)) == IGNORED
    assert hook.pushes.count == 0


def test_push_to_another_repository_is_ignored(hook: Hook) -> None:
    body = github_push(clone_url="https://github.com/example/ml-specs-fork.git")
    assert hook.post(body, github_headers(body)) == IGNORED
    assert hook.pushes.count == 0


def test_oversize_body_is_refused_before_it_is_read(hook: Hook) -> None:
    # Declared length only: a client that sent the whole body to a server that will not read it
    # could see its connection reset before the answer arrives.
    connection = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=10)
    try:
        connection.putrequest("POST", HOOK_PATH)
        connection.putheader("Content-Length", str(MAX_BODY + 1))
        connection.putheader("X-GitHub-Event", "push")
        connection.endheaders()
        response = connection.getresponse()
        # The HTTP server answers this one itself, in its own words.
        assert response.status == 413
        assert b"exceeds max_body" in response.read()
    finally:
        connection.close()
    assert hook.pushes.count == 0


def test_replayed_delivery_triggers_once(hook: Hook) -> None:
    body = github_push()
    headers = github_headers(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert hook.post(body, headers) == TRIGGERED
    assert hook.post(body, headers) == Reply(200, "duplicate delivery\n")
    assert hook.pushes.count == 1
    assert hook.post(body, github_headers(body)) == TRIGGERED  # a new delivery id is a new push
    assert hook.pushes.count == 2


def test_ping_answers_pong_without_a_fetch(hook: Hook) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert hook.post(body, github_headers(body, event="ping")) == Reply(200, "pong\n")
    assert hook.pushes.count == 0


def test_malformed_json_is_a_bad_request(hook: Hook) -> None:
    body = b'{"ref": "refs/heads/main", '
    assert hook.post(body, github_headers(body)) == Reply(400, "malformed JSON\n")
    shapeless = json.dumps({"ref": "refs/heads/main", "repository": "a string"}).encode()
    assert hook.post(shapeless, github_headers(shapeless)).status == 400
    assert hook.pushes.count == 0


def test_rejected_request_logs_reason_without_payload_or_secret(hook: Hook) -> None:
    body = github_push()
    forged = sign(body, b"another secret")
    with capture_logs() as logs:
        headers = {**github_headers(body), "X-Hub-Signature-256": forged}
        reply = hook.post(body, headers)
        gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET.decode() + "x"}
        hook.post(body, gitlab)
    assert reply.status == 401
    rejected = [entry for entry in logs if entry["event"] == "webhook.rejected"]
    assert [(e["provider"], e["reason"]) for e in rejected] == [
        ("github", "bad signature"),
        ("gitlab", "bad token"),
    ]
    text = repr(logs)
    for leak in (
        SECRET.decode(),
        forged,
        forged.removeprefix("sha256="),
        sign(body),
        "PAYLOAD-MARK",
    ):
        assert leak not in text


def test_a_burst_of_hooks_over_http_makes_two_fetch_triggers(server: ServiceServer) -> None:
    # The receiver as the service builds it: throttled to one trigger per MIN_TRIGGER_INTERVAL.
    pushes = Pushes()
    server.add_post(HOOK_PATH, WebhookReceiver(SECRET, REPO, BRANCH, pushes).handle)
    hook = Hook(f"http://127.0.0.1:{server.port}{HOOK_PATH}", server.port, pushes)
    body = github_push()
    started = time.monotonic()
    replies = [hook.post(body, github_headers(body)) for _ in range(30)]
    burst = time.monotonic() - started
    assert replies == [TRIGGERED] * 30
    assert burst < MIN_TRIGGER_INTERVAL, "the burst must fit in one interval to be measured"
    assert pushes.count == 1
    wait_for(lambda: pushes.count == 2, what="one trailing trigger after the burst")
    # Nothing more follows: a third trigger would have come one interval after the second.
    wait_for(lambda: time.monotonic() - started > 2 * MIN_TRIGGER_INTERVAL + 0.2, timeout=5)
    assert pushes.count == 2
