"""Stage status: each dirty spec's status from its outcome and the health of its objects, one
commit when any file changed, then the ``Report`` to those who tell people (Events, webhooks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import structlog

from reconciler.events import Observer, Report
from reconciler.guard import Guard
from reconciler.metrics import Metrics
from reconciler.plan import Action, ChangeSet
from reconciler.promotion import Promotions
from reconciler.specs.loaded import LoadResult, SpecKey
from reconciler.status.assemble import Outcome, assemble, invalid, repository_status
from reconciler.status.book import StatusBook
from reconciler.status.model import SpecStatus, StatusChange

from .clock import rfc3339
from .context import Cycle, Failures, SpecNotes
from .load import SourceState
from .planning import Planner


class Reporter:
    def __init__(
        self,
        book: StatusBook,
        status_branch: str,
        planner: Planner,
        promotions: Promotions,
        notes: SpecNotes,
        metrics: Metrics,
        observers: list[Observer],
    ) -> None:
        self.book = book
        self.status_branch = status_branch
        self.planner = planner
        self.promotions = promotions
        self.notes = notes
        self.metrics = metrics
        self.observers = observers  # the engine's list: the service adds to it after wiring

    def report(
        self,
        cycle: Cycle,
        keys: set[SpecKey],
        outcomes: Mapping[SpecKey, Outcome],
        failures: Failures,
        changeset: ChangeSet,
        source: SourceState,
        guard: Guard,
    ) -> None:
        now = rfc3339(cycle.now)
        changes: list[StatusChange] = []
        for key in keys:
            outcome = outcomes.get(key)
            if outcome is None and key not in cycle.load.invalid and self.planner.owned(key):
                continue  # removal withheld by the guard: the last status stays
            with structlog.contextvars.bound_contextvars(spec=str(key)):
                status = self._status(cycle, key, outcome, failures, now)
            change = self.book.record(key, status)
            if change is not None:
                changes.append(change)
        self.metrics.specs_by_phase.clear()
        for (kind, phase), count in self.book.phase_counts().items():
            self.metrics.specs_by_phase.labels(kind, phase).set(count)
        repository = repository_status(
            cycle.head,
            cycle.load,
            source.source_error,
            guard.status,
            config_error=source.config_error,
            status_branch=self.status_branch,
        )
        written = [
            c
            for c in changeset
            if (c.spec is None or c.spec not in failures)
            # Prunes the guard deferred did not happen (yet).
            and not (c.action is Action.PRUNE and c.spec is not None and c.spec in guard.deferred)
        ]
        self.book.did(
            cycle.head,
            applied=(str(c.ref) for c in written if c.action in (Action.CREATE, Action.UPDATE)),
            pruned=(str(c.ref) for c in written if c.action is Action.PRUNE),
            changes=changes,
        )
        self.book.flush(changes, cycle.head, repository)
        report = Report(
            cycle.head,
            now,
            written=tuple(written),
            failed=tuple(c for c in changeset if c.spec in failures),
            failures={spec: (str(f.reason), f.message) for spec, f in failures.items()},
            changes=tuple(changes),
        )
        for observer in self.observers:
            observer.observe(report)

    def _status(
        self,
        cycle: Cycle,
        key: SpecKey,
        outcome: Outcome | None,
        failures: Failures,
        now: str,
    ) -> SpecStatus | None:
        """The spec's status; None (a spec gone from Git, and its objects) removes its file."""
        if key in cycle.load.invalid:
            objects = self.planner.owned(key)
            return invalid(cycle.origin(key), cycle.load.invalid[key], now, objects)
        if outcome is None:
            return None
        failure = failures.get(key)
        if failure is not None and outcome.stage_reason is None:
            outcome = Outcome(key, outcome.source_commit, *failure, extra=outcome.extra)
        # Health reads the objects as they are after apply.
        outcome = replace(outcome, objects=self.planner.owned(key))
        return self._with_adoptions(key, cycle, assemble(self.promotions.annotate(outcome), now))

    def _with_adoptions(self, key: SpecKey, cycle: Cycle, status: SpecStatus) -> SpecStatus:
        """Say which existing objects the spec took over (spec.adopt), until the spec changes."""
        notes = self.notes.adoptions(key, cycle.origins.get(key))
        if not notes:
            return status
        message = f"adopted {', '.join(notes)}"
        return replace(
            status,
            message=f"{status.message}; {message}" if status.message else message,
            extra={**status.extra, "adopted": list(notes)},
        )

    def refused(self, head: str, result: LoadResult, source: SourceState) -> None:
        """No commit was ever in force and the tip's reconciler.yaml is refused: say why now,
        since no reconcile reports until a commit loads."""
        repository = repository_status(
            "", LoadResult(config=result.config), None, None, source.config_error
        )
        self.book.flush([], head, repository)
