"""The status branch as the engine last wrote it: one place that decides what a commit holds.

A spec's file is rewritten only when its bytes change (``lastTransitionTime`` carried over while
a condition holds), so one commit means one change somebody cares about. A push that failed is
retried with the next reconcile, whatever that reconcile changed. The dashboard (``README.md``)
is regenerated in every commit that changes a status, and only then; the note on the spec-branch
head is pushed after the branch whenever that commit's outcome changed.
"""

from __future__ import annotations

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


class StatusBook:
    def __init__(
        self, writer: StatusWriter, metrics: Metrics, may_write: Callable[[], bool]
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._may_write = may_write
        self.files: dict[str, bytes] = {}
        self.statuses: dict[SpecKey, SpecStatus] = {}
        self.pending = False  # a change was not pushed yet
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
        if status is None:
            self.statuses.pop(key, None)
            gone = self.files.pop(path, None) is not None
            return StatusChange(key, None, before) if gone else None
        status = carry_transitions(before, status)
        self.statuses[key] = status
        content = status.to_yaml()
        if self.files.get(path) == content:
            return None
        self.files[path] = content
        return StatusChange(key, status, before)

    def phase_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for key, status in self.statuses.items():
            label = (key.kind, str(status.phase))
            counts[label] = counts.get(label, 0) + 1
        return counts

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
        """Commit and push when any file changed or an earlier push is still owed; then the
        note on ``head`` when its outcome changed."""
        content = repository.to_yaml()
        repository_changed = self.files.get(REPOSITORY_FILE) != content
        self.files[REPOSITORY_FILE] = content
        if not self._may_write():
            return
        if changes or repository_changed or self.pending:
            self._commit(changes, head, repository)
        # Only a commit that was reconciled gets a note (not one whose config was refused).
        reconciled = repository.source_commit == head
        if reconciled and not self.pending and (self._note_due or head not in self._noted):
            self._note(head)

    def _commit(self, changes: list[StatusChange], head: str, repository: RepositoryStatus) -> None:
        self.files[dashboard.FILE] = dashboard.render(self.all_statuses(), repository)
        try:
            commit = self._writer.write(dict(self.files), commit_message(changes, head, repository))
        except SourceError as exc:
            log.warning("status_push_failed", reason=str(exc))
            self._metrics.git_errors.labels("push").inc()
            self.pending = True
            return
        self.pending = False
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
