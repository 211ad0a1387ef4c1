"""The Prometheus bearer token: sent on every query, never written anywhere.

A small HTTP server on loopback stands in for Prometheus (a real one cannot be asked what
headers it received): it records each request's Authorization header and answers as told,
including an error that echoes the token back, as an authenticating proxy in front of
Prometheus might.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pygit2
import pytest
from structlog.testing import capture_logs

from reconciler.delivery.prometheus import Prometheus, load_token
from reconciler.delivery.provider import MetricsError
from tests.loop.harness import Document, Loop
from tests.waiting import wait_for

TOKEN = "tok-7f3a9c2e51d84b06"

Answer = Callable[[], tuple[int, bytes]]


def ok(value: float = 1.0) -> tuple[int, bytes]:
    data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, str(value)]}]}
    return 200, json.dumps({"status": "success", "data": data}).encode()


def echoed() -> tuple[int, bytes]:
    error = f"bad_data: token Bearer {TOKEN} is not allowed to read this tenant"
    return 403, json.dumps({"status": "error", "errorType": "auth", "error": error}).encode()


def echoed_html() -> tuple[int, bytes]:
    return 401, f"<html>unauthorized: {TOKEN}</html>".encode()


class FakePrometheus:
    """Answers ``/api/v1/query`` with ``answers`` in turn (the last one from then on)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.authorization: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.authorization.append(self.headers.get("Authorization"))
                answer = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
                status, body = answer()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@contextmanager
def fake_prometheus(*answers: Answer) -> Iterator[FakePrometheus]:
    fake = FakePrometheus(list(answers))
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "prometheus-token"
    path.write_text(f"{TOKEN}\n")  # as a mounted Secret often ends: the newline is no part of it
    return path


@pytest.mark.parametrize("answer", [echoed, echoed_html], ids=["json-error", "html"])
def test_the_token_is_sent_and_kept_out_of_errors(token_file: Path, answer: Answer) -> None:
    with fake_prometheus(ok, answer) as fake:
        provider = Prometheus(fake.url, load_token(token_file))
        try:
            assert provider.query("vector(1)") == 1.0
            with pytest.raises(MetricsError) as failed:
                provider.query("vector(1)")
        finally:
            provider.close()
    assert fake.authorization == [f"Bearer {TOKEN}"] * 2
    assert TOKEN not in str(failed.value)
    assert str(failed.value).startswith(f"Prometheus answered HTTP {answer()[0]}")


def test_unreachable_prometheus_with_credentials_in_its_url(token_file: Path) -> None:
    with fake_prometheus(ok) as fake:
        url = fake.url.replace("http://", f"http://reader:{TOKEN}@")
    # The server is gone: the address, user information included, stays out of the error.
    provider = Prometheus(url, load_token(token_file))
    with pytest.raises(MetricsError) as failed:
        provider.query("vector(1)")
    provider.close()
    assert TOKEN not in str(failed.value) and "reader" not in str(failed.value)


def canary() -> Document:
    analysis = {
        "steps": [50],
        "interval": "1s",
        "failureLimit": 3,
        "metrics": [{"name": "always-one", "query": "vector(1)", "min": 0.5}],
    }
    spec = {
        "model": {"uri": "s3://models/v1/"},
        "image": "ghcr.io/acme/server:1.0",
        "replicas": 2,
        "canary": {"model": {"uri": "s3://models/v2/"}, "analysis": analysis},
    }
    return Document("ModelDeployment", "scorer", spec)


def test_through_the_loop_the_token_reaches_prometheus_and_nothing_else(
    loop: Loop, token_file: Path
) -> None:
    with fake_prometheus(echoed, ok) as fake, capture_logs() as logs:
        loop.commit({"models/scorer.yaml": canary()})
        loop.start(prometheus_url=fake.url, prometheus_token_file=str(token_file))
        status = wait_for(
            lambda: (
                (found := loop.status("ModelDeployment", "scorer"))
                and (found.get("analysis") or {}).get("phase") == "Promoted"
                and found
            ),
            30,
            0.05,
            what="the canary promoted",
        )
        loop.stop()
    first, last = status["analysis"]["checks"][0], status["analysis"]["checks"][-1]
    assert (first["verdict"], last["verdict"]) == ("Inconclusive", "Pass")
    assert first["metrics"]["always-one"]["reason"].startswith("Prometheus answered HTTP 403")
    assert fake.authorization and set(fake.authorization) == {f"Bearer {TOKEN}"}
    assert logs, "the loop logged nothing: the capture did not work"
    assert not [event for event in logs if TOKEN in repr(event)]
    # Status files, commit messages, notes: every object the remote holds.
    remote = pygit2.Repository(str(loop.remote.bare))
    assert remote.references.get("refs/heads/status") is not None
    assert not [oid for oid in remote.odb if TOKEN.encode() in remote.odb.read(oid)[1]]
