"""Fetch triggers for repositories on local disk: watch the refs, call back on each move.

A ``git push`` into a bare repository writes ``refs/heads/<b>.lock`` and moves it onto
``refs/heads/<b>`` (after ``git gc`` the ``packed-refs`` file changes instead), among dozens of
opened/closed events. Only moves, creations and modifications of the spec branch's ref or of
``packed-refs`` count: one or two per push, each an ``on_change`` call at once. Nothing waits
for a burst to end, since the ref's move is the last write of a push; the engine's inbox folds
calls that arrive while it is busy into one reconcile. The watcher only *triggers*; the fetch
decides what actually changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pygit2
import structlog
from pygit2.enums import RepositoryOpenFlag
from watchdog.events import (
    EVENT_TYPE_CREATED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from reconciler.errors import SourceError

log = structlog.get_logger(__name__)

_RELEVANT = frozenset({EVENT_TYPE_MOVED, EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED})


def git_dir(repo_path: Path) -> Path:
    """The Git directory of a bare or non-bare repository at ``repo_path``."""
    try:
        repo = pygit2.Repository(str(repo_path), flags=RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        raise SourceError(f"{repo_path} is not a Git repository") from None
    return Path(repo.path).resolve()


def is_ref_change(event: FileSystemEvent, gitdir: Path, branch: str) -> bool:
    """Whether ``event`` is ``branch`` (or packed-refs) reaching its final name inside ``gitdir``.

    Other refs are not news: the status branch and the notes the reconciler pushes itself live in
    the same repository, and each push of theirs would otherwise start another reconcile.
    """
    if event.event_type not in _RELEVANT or event.is_directory:
        return False
    raw = event.dest_path if event.event_type == EVENT_TYPE_MOVED else event.src_path
    path = Path(raw.decode() if isinstance(raw, bytes) else raw)
    # Lock files are the writes in progress; the move onto the real name is the change.
    if path.name.endswith(".lock"):
        return False
    try:
        relative = path.relative_to(gitdir)
    except ValueError:
        return False
    parts = relative.parts
    return parts == ("packed-refs",) or parts == ("refs", "heads", *branch.split("/"))


class _RefEventHandler(FileSystemEventHandler):
    def __init__(self, gitdir: Path, branch: str, on_change: Callable[[], None]) -> None:
        self._gitdir = gitdir
        self._branch = branch
        self._on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not is_ref_change(event, self._gitdir, self._branch):
            return
        try:
            self._on_change()
        except Exception:
            # A failing callback must not end the watch; the caller logs its own details.
            log.exception("watch.callback_failed")


class RepositoryWatcher:
    """Calls ``on_change`` (on the watch's thread) when ``branch`` of a local repository moves."""

    def __init__(self, repo_path: Path, branch: str, on_change: Callable[[], None]) -> None:
        self.git_dir = git_dir(Path(repo_path))
        self._branch = branch
        self._on_change = on_change
        self._observer: Observer | None = None  # type: ignore[valid-type]

    def start(self) -> None:
        if self._observer is not None:
            return
        handler = _RefEventHandler(self.git_dir, self._branch, self._on_change)
        observer = Observer()
        (self.git_dir / "refs").mkdir(exist_ok=True)
        observer.schedule(handler, str(self.git_dir / "refs"), recursive=True)
        # packed-refs is a single file in the Git directory: watch that directory, not below it.
        observer.schedule(handler, str(self.git_dir), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.info("watch.started", git_dir=str(self.git_dir))

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()
        if observer is not None:
            log.info("watch.stopped", git_dir=str(self.git_dir))

    def __enter__(self) -> RepositoryWatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
