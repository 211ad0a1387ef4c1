"""StatusBook: a file changes only when its bytes do; a failed push is retried next time."""

from __future__ import annotations

import shutil

import pygit2

from reconciler.metrics import Metrics
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.book import StatusBook
from reconciler.status.model import Condition, RepositoryStatus, SpecStatus
from reconciler.status.writer import StatusWriter

KEY = SpecKey("ModelDeployment", "ml", "m")
SHA = "a" * 40


def status(phase: Phase, when: str) -> SpecStatus:
    return SpecStatus(SHA, phase, "m", (Condition("Ready", "True", "Available", "", when),))


def book_on(tmp_path) -> tuple[StatusBook, pygit2.Repository]:
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    cache = pygit2.init_repository(str(tmp_path / "cache"), bare=True)
    book = StatusBook(StatusWriter(cache, str(remote)), Metrics(), lambda: True)
    book.load()
    return book, pygit2.Repository(str(remote))


def commits(repo: pygit2.Repository) -> int:
    ref = repo.references.get("refs/heads/status")
    return 0 if ref is None else sum(1 for _ in repo.walk(ref.target))


def test_unchanged_status_is_no_change_and_keeps_its_transition_time(tmp_path):
    book, _ = book_on(tmp_path)
    assert book.record(KEY, status(Phase.READY, "2026-01-01T00:00:00Z")) is not None
    assert book.record(KEY, status(Phase.READY, "2026-02-02T00:00:00Z")) is None
    kept = book.statuses[KEY].conditions[0].last_transition_time
    assert kept == "2026-01-01T00:00:00Z"


def test_flush_commits_once_and_retries_a_failed_push(tmp_path):
    book, remote = book_on(tmp_path)
    repository = RepositoryStatus(SHA, Phase.READY)
    change = book.record(KEY, status(Phase.READY, "2026-01-01T00:00:00Z"))
    book.flush([change], SHA, repository)
    assert commits(remote) == 1
    book.flush([], SHA, repository)
    assert commits(remote) == 1
    moved = tmp_path / "moved.git"
    shutil.move(tmp_path / "remote.git", moved)
    change = book.record(KEY, status(Phase.FAILED, "2026-01-02T00:00:00Z"))
    book.flush([change], SHA, repository)
    assert book.pending
    shutil.move(moved, tmp_path / "remote.git")
    book.flush([], SHA, repository)
    assert not book.pending
    assert commits(pygit2.Repository(str(tmp_path / "remote.git"))) == 2
