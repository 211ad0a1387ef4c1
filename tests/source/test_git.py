"""GitSource against real bare repositories on disk (and a closed port for network errors)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pygit2
import pytest
from structlog.testing import capture_logs

from reconciler.errors import SourceError
from reconciler.source.credentials import Credentials
from reconciler.source.git import GitSource, local_repository_path, scrub
from tests.source.remotes import Remote, git


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path / "origin")
    remote.commit({"models/a.yaml": "a: 1\n"}, "first")
    return remote


def test_clone_then_fetch_returns_the_new_tip(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(str(remote.bare), "main", tmp_path / "cache")
    first = source.fetch()
    assert str(first) == git("rev-parse", "main", cwd=remote.bare)
    assert source.repo.is_bare
    second = remote.commit({"models/b.yaml": "b: 1\n"}, "second")
    assert str(source.fetch()) == second
    tree = source.repo[pygit2.Oid(hex=second)].peel(pygit2.Tree)
    assert (tree / "models/b.yaml").data == b"b: 1\n"


def test_fetch_with_nothing_new_returns_the_same_tip_cheaply(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(f"file://{remote.bare}", "main", tmp_path / "cache")
    tip = source.fetch()
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        assert source.fetch() == tip
    per_fetch_ms = (time.perf_counter() - started) / rounds * 1000
    print(f"no-op fetch: {per_fetch_ms:.2f} ms")
    assert per_fetch_ms < 50  # loose: about 1 ms on a quiet machine


def test_existing_cache_of_the_same_url_is_reused(remote: Remote, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    GitSource(str(remote.bare), "main", cache).fetch()
    marker = cache / "reused-marker"
    marker.write_text("")
    tip = GitSource(str(remote.bare), "main", cache).fetch()
    assert marker.exists()
    assert str(tip) == git("rev-parse", "main", cwd=remote.bare)


def test_cache_of_another_url_is_replaced(remote: Remote, tmp_path: Path) -> None:
    other = Remote(tmp_path / "other")
    other_tip = other.commit({"x.yaml": "x\n"})
    cache = tmp_path / "cache"
    GitSource(str(remote.bare), "main", cache).fetch()
    source = GitSource(str(other.bare), "main", cache)
    assert str(source.fetch()) == other_tip
    assert source.repo.remotes["origin"].url == str(other.bare)


def test_cache_dir_with_foreign_files_is_left_alone(remote: Remote, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(SourceError, match="not a Git cache"):
        GitSource(str(remote.bare), "main", cache).fetch()
    assert (cache / "notes.txt").read_text() == "mine"


def test_unknown_branch_is_a_clear_source_error(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(str(remote.bare), "nope", tmp_path / "cache")
    with pytest.raises(SourceError, match=r"branch 'nope' does not exist in .*remote\.git"):
        source.fetch()


def test_branch_deleted_on_the_remote_is_reported(remote: Remote, tmp_path: Path) -> None:
    remote.commit({"c.yaml": "c\n"}, branch="feature")
    source = GitSource(str(remote.bare), "feature", tmp_path / "cache")
    source.fetch()
    git("update-ref", "-d", "refs/heads/feature", cwd=remote.bare)
    with pytest.raises(SourceError, match="does not exist"):
        source.fetch()


def test_missing_repository_is_a_clear_source_error(tmp_path: Path) -> None:
    source = GitSource(str(tmp_path / "absent.git"), "main", tmp_path / "cache")
    with pytest.raises(SourceError, match=r"absent\.git does not exist"):
        source.fetch()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_credentials_never_appear_in_errors_or_logs(tmp_path: Path) -> None:
    token = "ghp_s3cr3tT0ken"
    url = f"https://user:{token}@127.0.0.1:{_closed_port()}/org/repo.git"
    source = GitSource(url, "main", tmp_path / "cache", Credentials.https_token(token))
    with capture_logs() as logs, pytest.raises(SourceError) as caught:
        source.fetch()
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert token not in message
    assert "user:" not in message
    assert token not in repr(logs)
    assert token not in repr(source.credentials)


def test_scrub_removes_userinfo_and_secret_values() -> None:
    text = "failed https://x-access-token:abc123@host/r.git (token abc123)"
    assert scrub(text, ("abc123",)) == "failed https://***@host/r.git (token ***)"


def test_changed_paths(remote: Remote, tmp_path: Path) -> None:
    source = GitSource(str(remote.bare), "main", tmp_path / "cache")
    first = source.fetch()
    remote.commit({"models/a.yaml": "a: 2\n", "serving/deep/b.yaml": "b\n"}, "edit and add")
    second = source.fetch()
    assert source.changed_paths(first, second) == {"models/a.yaml", "serving/deep/b.yaml"}
    remote.commit({"models/a.yaml": None}, "remove")
    third = source.fetch()
    assert source.changed_paths(second, third) == {"models/a.yaml"}
    assert source.changed_paths(None, third) == {"serving/deep/b.yaml"}
    assert source.changed_paths(third, third) == set()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/org/repo.git", None),
        ("ssh://git@github.com/org/repo.git", None),
        ("git@github.com:org/repo.git", None),
        ("/srv/git/repo.git", Path("/srv/git/repo.git")),
        ("file:///srv/git/repo.git", Path("/srv/git/repo.git")),
    ],
)
def test_local_repository_path(url: str, expected: Path | None) -> None:
    assert local_repository_path(url) == expected
