"""The status branch as the engine last wrote it: one place that decides what a commit holds.

A spec's file is rewritten only when its bytes change (``lastTransitionTime`` carried over while
a condition holds), so one commit means one change somebody cares about. A push that failed is
retried with the next reconcile, whatever that reconcile changed.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from reconciler.errors import SourceError
from reconciler.metrics import Metrics
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import (
    REPOSITORY_FILE,
    RepositoryStatus,
    SpecStatus,
    StatusChange,
    carry_transitions,
    commit_message,
    status_path,
)
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
        if status is None:
            self.statuses.pop(key, None)
            return StatusChange(key, None) if self.files.pop(path, None) is not None else None
        status = carry_transitions(self.previous(key), status)
        self.statuses[key] = status
        content = status.to_yaml()
        if self.files.get(path) == content:
            return None
        self.files[path] = content
        return StatusChange(key, status)

    def phase_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for key, status in self.statuses.items():
            label = (key.kind, str(status.phase))
            counts[label] = counts.get(label, 0) + 1
        return counts

    def flush(self, changes: list[StatusChange], head: str, repository: RepositoryStatus) -> None:
        """Commit and push when any file changed or an earlier push is still owed."""
        content = repository.to_yaml()
        repository_changed = self.files.get(REPOSITORY_FILE) != content
        self.files[REPOSITORY_FILE] = content
        if not (changes or repository_changed or self.pending) or not self._may_write():
            return
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
