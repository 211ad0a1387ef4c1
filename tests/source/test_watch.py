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

# Generous compared with one push (milliseconds) so a loaded machine never splits a burst.
DEBOUNCE = 0.2


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


def test_one_call_for_a_push_of_several_branches(remote: Remote) -> None:
    git("branch", "-f", "one", cwd=remote.work)
    git("branch", "-f", "two", cwd=remote.work)
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.bare, calls, debounce=DEBOUNCE):
        # One push moving three refs: one burst.
        remote.commit({"b.yaml": "b\n"})
        git("push", "-q", "origin", "main", "one", "two", cwd=remote.work)
        assert calls.event.wait(timeout=10), "no call after a push"
        # A later, separate push is the barrier: once a call has seen it, every event of the
        # first burst was handled before it, since events arrive in order.
        git("push", "-q", "origin", "main:sentinel", cwd=remote.work)
        wait_for(lambda: any("sentinel" in heads for heads in calls.seen), what="sentinel call")
    before_sentinel = [heads for heads in calls.seen if "sentinel" not in heads]
    assert len(before_sentinel) == 1


def test_no_call_for_unrelated_files_and_lock_files(remote: Remote) -> None:
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.bare, calls, debounce=DEBOUNCE):
        (remote.bare / "description").write_text("changed")
        (remote.bare / "hooks" / "post-update").write_text("#!/bin/sh\n")
        (remote.bare / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")
        (remote.bare / "refs" / "heads" / "main.lock").unlink()
        git("push", "-q", "origin", "main:sentinel", cwd=remote.work)
        wait_for(lambda: calls.count() >= 1, what="a call for the sentinel push")
    # Had the unrelated writes triggered, a call would have seen no sentinel branch yet.
    assert all("sentinel" in heads for heads in calls.seen)


def test_packed_refs_after_gc_counts(remote: Remote) -> None:
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.bare, calls, debounce=DEBOUNCE):
        git("pack-refs", "--all", cwd=remote.bare)
        assert calls.event.wait(timeout=10), "no call after packed-refs changed"


def test_non_bare_repository_is_watched_through_its_git_dir(remote: Remote) -> None:
    assert git_dir(remote.work) == (remote.work / ".git").resolve()
    calls = Calls(remote.bare)
    with RepositoryWatcher(remote.work, calls, debounce=DEBOUNCE):
        git("commit", "-q", "--allow-empty", "-m", "local", cwd=remote.work)
        assert calls.event.wait(timeout=10), "no call after a local commit"


def test_stop_cancels_a_pending_call_and_ends_threads(remote: Remote) -> None:
    calls = Calls(remote.bare)
    before = set(threading.enumerate())
    watcher = RepositoryWatcher(remote.bare, calls, debounce=60)
    watcher.start()
    git("push", "-q", "origin", "main:other", cwd=remote.work)
    watcher.stop()
    assert calls.count() == 0
    assert set(threading.enumerate()) <= before


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a Git repository"):
        RepositoryWatcher(tmp_path, lambda: None)


@pytest.mark.parametrize(
    ("event", "relevant"),
    [
        (FileMovedEvent("/g/refs/heads/main.lock", "/g/refs/heads/main"), True),
        (FileCreatedEvent("/g/refs/tags/v1"), True),
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
    assert is_ref_change(event, Path("/g")) is relevant  # type: ignore[arg-type]
