"""The status branch as the engine last wrote it: one place that decides what a commit holds.

A spec's file is rewritten only when its bytes change (``lastTransitionTime`` carried over while
a condition holds), so one commit means one change somebody cares about. A push that failed is
retried with the next reconcile, whatever that reconcile changed. The dashboard (``README.md``)
is regenerated in every commit that changes a status, and only then; the note on the spec-branch
head is pushed after the branch whenever that commit's outcome changed.

While thousands of specs settle, statuses change on nearly every reconcile, and a commit costs
time in proportion to the branch (the tree, the dashboard, the push). Writes are paced so that
they take at most a fifth of the loop's time: after a write that took d seconds the next waits
``PACE`` times d (never more than ``MAX_WAIT``), and what changed meanwhile goes out in one commit
naming every spec it changed. A quiet branch commits each change at once. The loop asks
``due_in`` how long it may wait for triggers, and calls ``write_owed`` when that time comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import structlog

from reconciler.errors import SourceError
from reconciler.metrics import Metrics
from reconciler.specs.loaded import SpecKey
from reconciler.status import dashboard
from reconciler.status.model import (
    REPOSITORY_FILE,
    RepositoryStatus,
    SpecStatus,
    StatusChange,
    carry_transitions,
    commit_message,
    status_path,
)
from reconciler.status.notes import CommitWork, note_text, previous_counts
from reconciler.status.reader import spec_key
from reconciler.status.writer import StatusWriter

log = structlog.get_logger(__name__)

PACE = 4.0
MAX_WAIT = 2.0  # seconds a change may wait for its commit


class StatusBook:
    def __init__(
        self,
        writer: StatusWriter,
        metrics: Metrics,
        may_write: Callable[[], bool],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._may_write = may_write
        self._monotonic = monotonic
        self.files: dict[str, bytes] = {}
        self.statuses: dict[SpecKey, SpecStatus] = {}
        self._counts: dict[tuple[str, str], int] = {}  # statuses per (kind, phase)
        self.pending = False  # a change was not pushed yet (held back by pacing, or refused)
        self._owed: dict[SpecKey, StatusChange] = {}  # what the owed commit will name
        self._latest: tuple[str, RepositoryStatus] | None = None  # head and repository to write
        self._next_write = 0.0  # monotonic time before which nothing is written
        self._parsed: dict[str, SpecStatus] = {}  # files read from the branch, parsed once
        self.work: CommitWork | None = None  # what was done at the spec-branch head
        self._noted: dict[str, str] = {}  # commit -> the note text pushed for it
        self._note_due = False  # something the head's note tells of may have changed

    def load(self) -> None:
        """Start from what the branch holds, so a restart commits nothing that did not change."""
        try:
            self.files = dict(self._writer.read())
        except SourceError as exc:
            log.warning("status_read_failed", reason=str(exc))

    def previous(self, key: SpecKey) -> SpecStatus | None:
        found = self.statuses.get(key)
        raw = self.files.get(status_path(key))
        if found is None and raw is not None:
            try:
                found = SpecStatus.from_yaml(raw)
            except (ValueError, KeyError):
                return None
        return found

    def record(self, key: SpecKey, status: SpecStatus | None) -> StatusChange | None:
        """Set (or, for None, remove) a spec's file; the change when its bytes changed."""
        path = status_path(key)
        self._parsed.pop(path, None)
        before = self.previous(key)
        self._count(self.statuses.get(key), key, -1)
        if status is None:
            self.statuses.pop(key, None)
            gone = self.files.pop(path, None) is not None
            return StatusChange(key, None, before) if gone else None
        status = carry_transitions(before, status)
        self.statuses[key] = status
        self._count(status, key, 1)
        content = status.to_yaml()
        if self.files.get(path) == content:
            return None
        self.files[path] = content
        return StatusChange(key, status, before)

    def phase_counts(self) -> dict[tuple[str, str], int]:
        """Specs recorded by this process, per (kind, phase): kept as they are recorded, since
        counting thousands of statuses on every reconcile was a fifth of the loop's time."""
        return {label: count for label, count in self._counts.items() if count}

    def _count(self, status: SpecStatus | None, key: SpecKey, step: int) -> None:
        if status is not None:
            label = (key.kind, str(status.phase))
            self._counts[label] = self._counts.get(label, 0) + step

    def all_statuses(self) -> dict[SpecKey, SpecStatus]:
        """Every spec's status on the branch: recorded by this process, else as read at start."""
        found: dict[SpecKey, SpecStatus] = {}
        for path, raw in self.files.items():
            key = spec_key(path)
            if key is None or key in self.statuses:
                continue
            status = self._parsed.get(path)
            if status is None:
                try:
                    status = self._parsed[path] = SpecStatus.from_yaml(raw)
                except (ValueError, KeyError, TypeError):
                    continue
            found[key] = status
        found.update(self.statuses)
        return found

    def did(
        self, head: str, applied: Iterable[str], pruned: Iterable[str], changes: list[StatusChange]
    ) -> None:
        """Note what a reconcile at spec-branch commit ``head`` applied, pruned and removed."""
        if self.work is None or self.work.commit != head:
            self.work = CommitWork(head)
        work = self.work
        before = (len(work.applied), len(work.pruned))
        work.applied.update(applied)
        work.pruned.update(pruned)
        work.removed.update(c.key for c in changes if c.status is None)
        grew = before != (len(work.applied), len(work.pruned))
        self._note_due = self._note_due or grew or bool(changes)

    def flush(self, changes: list[StatusChange], head: str, repository: RepositoryStatus) -> None:
        """Owe a commit when any file changed; write what is owed unless pacing holds it."""
        content = repository.to_yaml()
        repository_changed = self.files.get(REPOSITORY_FILE) != content
        self.files[REPOSITORY_FILE] = content
        if not self._may_write():
            return
        for change in changes:
            earlier = self._owed.get(change.key)
            # One commit for several changes of a spec: from what the branch last said.
            previous = earlier.previous if earlier is not None else change.previous
            self._owed[change.key] = StatusChange(change.key, change.status, previous)
        self.pending = self.pending or bool(changes) or repository_changed
        self._latest = (head, repository)
        self.write_owed()

    def due_in(self) -> float | None:
        """Seconds until a held-back commit or note may be written; None when none is owed."""
        if not (self.pending or self._note_owed()):
            return None
        return max(0.0, self._next_write - self._monotonic())

    def write_owed(self) -> None:
        """The owed commit, then the note on the head when its outcome changed, if pacing
        allows now."""
        if self._latest is None or self.due_in() != 0.0:
            return
        head, repository = self._latest
        started = self._monotonic()
        if self.pending:
            self._commit(head, repository)
        if not self.pending and self._note_owed():
            self._note(head)
        took = self._monotonic() - started
        self._next_write = started + took + min(PACE * took, MAX_WAIT)

    def _note_owed(self) -> bool:
        if self._latest is None:
            return False
        head, repository = self._latest
        # Only a commit that was reconciled gets a note (not one whose config was refused).
        return repository.source_commit == head and (self._note_due or head not in self._noted)

    def _commit(self, head: str, repository: RepositoryStatus) -> None:
        self.files[dashboard.FILE] = dashboard.render(self.all_statuses(), repository)
        message = commit_message(list(self._owed.values()), head, repository)
        try:
            commit = self._writer.write(dict(self.files), message)
        except SourceError as exc:
            log.warning("status_push_failed", reason=str(exc))
            self._metrics.git_errors.labels("push").inc()
            return
        self.pending = False
        self._owed.clear()
        if commit is not None:
            self._metrics.status_commits.inc()
            log.info("status_committed", status_commit=str(commit)[:12])

    def _note(self, head: str) -> None:
        if self.work is None or self.work.commit != head:
            self.work = CommitWork(head)
        try:
            if head not in self._noted:
                # First note on this commit in this process: keep what an earlier one counted.
                earlier = self._writer.read_note(head)
                self.work.floor = previous_counts(earlier)
                self._noted[head] = earlier or ""
            text = note_text(self.work, self.all_statuses())
            if text != self._noted[head]:
                self._writer.write_notes({head: text})
        except SourceError as exc:
            log.warning("status_note_failed", reason=str(exc))
            self._metrics.git_errors.labels("push").inc()
            return
        self._note_due = False
        # Only the head's note can still change: older ones are forgotten.
        self._noted = {head: text}
