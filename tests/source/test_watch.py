"""RepositoryWatcher on a real bare repository receiving real `git push`es."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from reconciler.errors import SourceError
from reconciler.source.watch import RepositoryWatcher, git_dir, is_ref_change
from tests.source.remotes import Remote, git
from tests.waiting import wait_for


class Calls:
    """Records, for each on_change call, which branches the bare repository had at that moment."""

    def __init__(self, bare: Path) -> None:
        self._bare = bare
        self._lock = threading.Lock()
        self.seen: list[set[str]] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        heads = set(
            git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=self._bare).split()
        )
        with self._lock:
            self.seen.append(heads)
        self.event.set()

    def count(self) -> int:
        with self._lock:
            return len(self.seen)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path / "origin")
    remote.commit({"a.yaml": "a\n"})
    return remote


class Tips:
    """Records, for each on_change call, where main pointed at that moment."""

    def __init__(self, bare: Path) -> None:
        self._bare = bare
        self.seen: list[str] = []

    def __call__(self) -> None:
        self.seen.append(git("rev-parse", "main", cwd=self._bare).strip())


def test_one_call_for_a_push_of_the_branch_with_others(remote: Remote) -> None:
    tips = Tips(remote.bare)
    with RepositoryWatcher(remote.bare, "main", tips):
        # One push moving main and two other refs: one call.
        git("commit", "-q", "--allow-empty", "-m", "a", cwd=remote.work)
        first = git("rev-parse", "HEAD", cwd=remote.work).strip()
        git("push", "-q", "origin", "main", "main:one", "main:two", cwd=remote.work)
        wait_for(lambda: first in tips.seen, what="a call after the push")
        # A later, separate push is the barrier: once a call has seen it, every event of the
        # first push was handled before it, since events arrive in order.
        second = remote.commit({"b.yaml": "b\n"})
        wait_for(lambda: second in tips.seen, what="a call after the second push")
    assert tips.seen.count(first) == 1


def test_no_call_for_other_branches_and_notes(remote: Remote) -> None:
    """The status branch and the notes are pushed into the spec repository by the reconciler
    itself: a push of theirs is no news about the specs."""
    tips = Tips(remote.bare)
    with RepositoryWatcher(remote.bare, "main", tips):
        git("push", "-q", "origin", "main:status", cwd=remote.work)
        git("notes", "--ref=reconciler", "add", "-m", "outcome", "HEAD", cwd=remote.work)
        git("push", "-q", "origin", "refs/notes/reconciler", cwd=remote.work)
        git("tag", "v1", cwd=remote.work)
        git("push", "-q", "origin", "v1", cwd=remote.work)
        pushed = remote.commit({"b.yaml": "b\n"})
        wait_for(lambda: pushed in tips.seen, what="a call for the push of main")
    # Had the other refs triggered, a call would have seen the old main first.
    assert tips.seen == [pushed]


def test_no_call_for_unrelated_files_and_lock_files(remote: Remote) -> None:
    tips = Tips(remote.bare)
    with RepositoryWatcher(remote.bare, "main", tips):
        (remote.bare / "description").write_text("changed")
        (remote.bare / "hooks" / "post-update").write_text("#!/bin/sh\n")
        (remote.bare / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")
        (remote.bare / "refs" / "heads" / "main.lock").unlink()
        pushed = remote.commit({"b.yaml": "b\n"})
        wait_for(lambda: pushed in tips.seen, what="a call for the push")
    # Had the unrelated writes triggered, a call would have seen the old main first.
    assert tips.seen == [pushed]


def test_packed_refs_after_gc_counts(remote: Remote) -> None:
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.bare, "main", calls):
        git("pack-refs", "--all", cwd=remote.bare)
        assert calls.event.wait(timeout=10), "no call after packed-refs changed"


def test_non_bare_repository_is_watched_through_its_git_dir(remote: Remote) -> None:
    assert git_dir(remote.work) == (remote.work / ".git").resolve()
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.work, "main", calls):
        git("commit", "-q", "--allow-empty", "-m", "local", cwd=remote.work)
        assert calls.event.wait(timeout=10), "no call after a local commit"


def test_stop_ends_threads_and_calls(remote: Remote) -> None:
    calls = Calls(remote.bare)
    before = set(threading.enumerate())
    watcher = RepositoryWatcher(remote.bare, "main", calls)
    watcher.start()
    watcher.stop()
    git("commit", "-q", "--allow-empty", "-m", "after", cwd=remote.work)
    git("push", "-q", "origin", "main", cwd=remote.work)
    assert calls.count() == 0
    assert set(threading.enumerate()) <= before


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a Git repository"):
        RepositoryWatcher(tmp_path, "main", lambda: None)


@pytest.mark.parametrize(
    ("event", "relevant"),
    [
        (FileMovedEvent("/g/refs/heads/main.lock", "/g/refs/heads/main"), True),
        (FileMovedEvent("/g/refs/heads/team/a.lock", "/g/refs/heads/team/a"), False),
        (FileMovedEvent("/g/refs/heads/status.lock", "/g/refs/heads/status"), False),
        (FileMovedEvent("/g/refs/notes/reconciler.lock", "/g/refs/notes/reconciler"), False),
        (FileCreatedEvent("/g/refs/tags/v1"), False),
        (FileModifiedEvent("/g/packed-refs"), True),
        (FileMovedEvent("/g/packed-refs.lock", "/g/packed-refs"), True),
        (FileCreatedEvent("/g/refs/heads/main.lock"), False),
        (FileModifiedEvent("/g/refs/heads/main.lock"), False),
        (FileOpenedEvent("/g/refs/heads/main"), False),
        (FileClosedEvent("/g/refs/heads/main"), False),
        (FileCreatedEvent("/g/objects/ab/cdef"), False),
        (FileModifiedEvent("/g/description"), False),
        (FileModifiedEvent("/elsewhere/refs/heads/main"), False),
    ],
)
def test_is_ref_change(event: object, relevant: bool) -> None:
    assert is_ref_change(event, Path("/g"), "main") is relevant  # type: ignore[arg-type]


def test_a_branch_with_a_slash_is_matched_whole() -> None:
    moved = FileMovedEvent("/g/refs/heads/team/a.lock", "/g/refs/heads/team/a")
    assert is_ref_change(moved, Path("/g"), "team/a")
    assert not is_ref_change(moved, Path("/g"), "team")
