"""StatusBook: a file changes only when its bytes do; a failed push is retried next time; under
churn, commits are paced and what changed meanwhile goes out together."""

from __future__ import annotations

import shutil

import pygit2
import pytest

from reconciler.metrics import Metrics
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.book import MAX_WAIT, StatusBook
from reconciler.status.model import Condition, RepositoryStatus, SpecStatus
from reconciler.status.writer import StatusWriter

KEY = SpecKey("ModelDeployment", "ml", "m")
SHA = "a" * 40


def status(phase: Phase, when: str) -> SpecStatus:
    return SpecStatus(SHA, phase, "m", (Condition("Ready", "True", "Available", "", when),))


class Ticks:
    """A monotonic clock the test moves; a write through ``SlowWriter`` moves it too."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowWriter(StatusWriter):
    """A status branch whose every commit takes ``took`` seconds of the test's clock."""

    def __init__(self, cache: pygit2.Repository, url: str, ticks: Ticks, took: float) -> None:
        super().__init__(cache, url)
        self.ticks, self.took = ticks, took

    def write(self, files, message):  # type: ignore[no-untyped-def]
        self.ticks.now += self.took
        return super().write(files, message)


def book_on(tmp_path, took: float = 0.0) -> tuple[StatusBook, pygit2.Repository, Ticks]:
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    cache = pygit2.init_repository(str(tmp_path / "cache"), bare=True)
    ticks = Ticks()
    writer = SlowWriter(cache, str(remote), ticks, took)
    book = StatusBook(writer, Metrics(), lambda: True, ticks)
    book.load()
    return book, pygit2.Repository(str(remote)), ticks


def commits(repo: pygit2.Repository) -> int:
    ref = repo.references.get("refs/heads/status")
    return 0 if ref is None else sum(1 for _ in repo.walk(ref.target))


def test_unchanged_status_is_no_change_and_keeps_its_transition_time(tmp_path):
    book, _, _ = book_on(tmp_path)
    assert book.record(KEY, status(Phase.READY, "2026-01-01T00:00:00Z")) is not None
    assert book.record(KEY, status(Phase.READY, "2026-02-02T00:00:00Z")) is None
    kept = book.statuses[KEY].conditions[0].last_transition_time
    assert kept == "2026-01-01T00:00:00Z"


def test_flush_commits_once_and_retries_a_failed_push(tmp_path):
    book, remote, _ = book_on(tmp_path)
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


def subjects(repo: pygit2.Repository) -> list[str]:
    tip = repo.references["refs/heads/status"].target
    return [c.message.splitlines()[0] for c in repo.walk(tip)]


def test_a_change_soon_after_a_slow_commit_waits_and_goes_out_with_the_next(tmp_path):
    book, remote, ticks = book_on(tmp_path, took=0.1)
    repository = RepositoryStatus(SHA, Phase.READY)
    other = SpecKey("ModelDeployment", "ml", "other")
    book.flush([book.record(KEY, status(Phase.PROGRESSING, "t0"))], SHA, repository)
    assert commits(remote) == 1 and not book.pending
    # The commit took 0.1 s: nothing more is written for 4 x 0.1 s after it.
    assert book.due_in() is None
    ticks.now += 0.2
    book.flush([book.record(KEY, status(Phase.READY, "t1"))], SHA, repository)
    book.flush([book.record(other, status(Phase.FAILED, "t1"))], SHA, repository)
    assert commits(remote) == 1 and book.pending
    assert book.due_in() == pytest.approx(0.2)
    book.write_owed()
    assert commits(remote) == 1
    ticks.now += 0.2
    book.write_owed()
    assert commits(remote) == 2 and not book.pending and book.due_in() is None
    # One commit names both specs, each with its phase now, not the one in between.
    assert subjects(remote)[0] == f"2 specs changed at {SHA[:7]}: m Ready, other Failed"


def test_a_quiet_branch_commits_each_change_at_once(tmp_path):
    book, remote, ticks = book_on(tmp_path, took=0.1)
    repository = RepositoryStatus(SHA, Phase.READY)
    for count, phase in enumerate((Phase.PROGRESSING, Phase.READY, Phase.DEGRADED), start=1):
        book.flush([book.record(KEY, status(phase, str(count)))], SHA, repository)
        assert commits(remote) == count
        ticks.now += 0.5  # more than 4 x the 0.1 s a commit takes


def test_the_wait_after_a_very_slow_commit_is_capped(tmp_path):
    book, remote, ticks = book_on(tmp_path, took=10.0)
    repository = RepositoryStatus(SHA, Phase.READY)
    book.flush([book.record(KEY, status(Phase.PROGRESSING, "t0"))], SHA, repository)
    book.flush([book.record(KEY, status(Phase.READY, "t1"))], SHA, repository)
    assert book.due_in() == pytest.approx(MAX_WAIT)
    ticks.now += MAX_WAIT
    book.write_owed()
    assert commits(remote) == 2


def test_phase_counts_follow_each_record(tmp_path):
    book, _, _ = book_on(tmp_path)
    other = SpecKey("ModelDeployment", "ml", "other")
    book.record(KEY, status(Phase.PROGRESSING, "t0"))
    book.record(other, status(Phase.PROGRESSING, "t0"))
    assert book.phase_counts() == {("ModelDeployment", "Progressing"): 2}
    book.record(KEY, status(Phase.READY, "t1"))
    book.record(KEY, status(Phase.READY, "t2"))
    assert book.phase_counts() == {
        ("ModelDeployment", "Progressing"): 1,
        ("ModelDeployment", "Ready"): 1,
    }
    book.record(other, None)
    book.record(other, None)
    assert book.phase_counts() == {("ModelDeployment", "Ready"): 1}
