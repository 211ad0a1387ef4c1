"""A WebhookReceiver mounted on a real ServiceServer on loopback, and signed requests to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from reconciler.httpserver import ServiceServer
from reconciler.source.webhook import HOOK_PATH, WebhookReceiver

SECRET = b"s3cr3t-hook-value-7f9a"
REPO = "https://github.com/example/ml-specs.git"
BRANCH = "main"


class Pushes:
    """Counts ``on_push`` calls, which the HTTP server makes on its own threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def generic_headers(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The generic form: the signature covers ``<timestamp>.<body>``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Signature-Timestamp": stamp,
        "X-Signature-256": sign(stamp.encode() + b"." + body),
    }


def github_push(ref: str = f"refs/heads/{BRANCH}", clone_url: str = REPO) -> bytes:
    repository = {
        "clone_url": clone_url,
        "ssh_url": "git@github.com:example/other-name.git",
        "html_url": "https://github.com/example/other-name",
    }
    return json.dumps({"ref": ref, "repository": repository, "marker": "PAYLOAD-MARK"}).encode()


def github_headers(body: bytes, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body),
    }


@dataclass(frozen=True)
class Reply:
    status: int
    text: str


@dataclass
class Hook:
    url: str
    port: int
    pushes: Pushes

    def post(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        request = urllib.request.Request(self.url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.read().decode())


@pytest.fixture(scope="module")
def server() -> Iterator[ServiceServer]:
    server = ServiceServer(0, CollectorRegistry(), lambda: (True, "ok"), host="127.0.0.1")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hook(server: ServiceServer) -> Hook:
    """A fresh receiver (no deliveries seen, no pushes counted, not throttled) on the server."""
    pushes = Pushes()
    receiver = WebhookReceiver(SECRET, REPO, BRANCH, pushes, min_interval=0)
    server.add_post(HOOK_PATH, receiver.handle)
    return Hook(f"http://127.0.0.1:{server.port}{HOOK_PATH}", server.port, pushes)
