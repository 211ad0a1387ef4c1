"""A Git server that hangs: fetch and push give up within the timeout instead of forever.

Each operation runs on a helper thread so that, on code without a timeout, the test fails at its
own deadline instead of hanging the suite; the server's sockets are closed at the end either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import SourceError
from reconciler.source.credentials import Credentials
from reconciler.source.git import GitSource
from reconciler.status.writer import StatusWriter
from tests.source.remotes import Remote
from tests.source.smart_http import silent_server, smart_http, stalling_server

TIMEOUT = 1.0  # seconds given to the Git operation
MARGIN = 2.0  # seconds of slack on a loaded machine
USER, TOKEN = "robot", "tok_hang_3b1f"


def outcome(operation: Callable[[], object]) -> tuple[BaseException | None, float]:
    """The exception ``operation`` raised and how long it took; fails if it is still running."""
    result: list[BaseException | None] = []
    started = time.monotonic()

    def run() -> None:
        try:
            operation()
        except BaseException as exc:  # handed to the test thread
            result.append(exc)
        else:
            result.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT + MARGIN + 3)
    assert result, "the Git operation was still blocked long after its timeout"
    return result[0], time.monotonic() - started


@pytest.mark.parametrize("server", [silent_server, stalling_server], ids=["silent", "stalling"])
def test_fetch_from_a_hanging_server_fails_within_the_timeout(server, tmp_path: Path) -> None:
    with server() as url:
        source = GitSource(url, "main", tmp_path / "cache", timeout=TIMEOUT)
        error, took = outcome(source.fetch)
    assert isinstance(error, SourceError)
    assert "timed out" in str(error)
    assert took < TIMEOUT + MARGIN


def test_status_writer_fetch_from_a_silent_server_fails_within_the_timeout(
    tmp_path: Path,
) -> None:
    repo = pygit2.init_repository(str(tmp_path / "cache"), bare=True)
    with silent_server() as url:
        writer = StatusWriter(repo, url, "status", timeout=TIMEOUT)
        error, took = outcome(writer.read)
    assert isinstance(error, SourceError)
    assert took < TIMEOUT + MARGIN


def test_status_push_to_a_server_that_never_answers_fails_within_the_timeout(
    tmp_path: Path,
) -> None:
    remote = Remote(tmp_path / "origin")
    remote.commit({"a.yaml": "a: 1\n"})
    repo = pygit2.init_repository(str(tmp_path / "cache"), bare=True)
    with smart_http(remote.bare.parent, USER, TOKEN, hang_pushes=True) as base:
        writer = StatusWriter(
            repo,
            f"{base}/{remote.bare.name}",
            "status",
            Credentials.https_token(TOKEN, username=USER),
            timeout=TIMEOUT,
        )
        assert writer.read() == {}  # fetches answer: the branch does not exist yet
        error, took = outcome(lambda: writer.write({"x.yaml": b"phase: Ready\n"}, "status"))
    assert isinstance(error, SourceError)
    assert "cannot push status branch" in str(error)
    assert took < TIMEOUT + MARGIN
