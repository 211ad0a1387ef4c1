"""One reconcile, as its stages, over a ``Cycle``:

    load      fetch; verify the tip; load the specs of a new commit (changed files only)
    desired   per dirty spec: the objects it wants (training runs, pipeline steps, promoted models)
    plan      desired vs the watch cache: create / update / keep / prune, with reasons
    guard     withhold the prunes a broken, sweeping or rewritten commit would cause
    apply     server-side apply in rank order, after looking before each create
    prune     last: what Git no longer declares, once its replacements applied and are Ready
    health    (inside status, and for the guard) the live objects after the writes
    status    status files, one commit when any changed; the report to Events and webhooks

Only dirty specs (changed content, cluster events, or all of them on a resync) are rendered and
planned, so a commit that changes one spec costs one spec, and a reconcile with nothing to do
makes no API request and no commit. Desired and apply go in waves of ``WAVE`` specs, training
before serving: the desired objects of a cold start of 5,000 specs are 54 MiB as dicts, all
held at once without waves; a wave's are let go once applied. The guard and the prunes come
after every wave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from reconciler.delivery.runner import Delivery
from reconciler.errors import ApiError, ReconcilerError
from reconciler.events import Observer
from reconciler.guard import Guard
from reconciler.metrics import Metrics
from reconciler.plan import Change, ChangeSet
from reconciler.promotion import Promotions
from reconciler.reasons import Reason
from reconciler.source.verify import CommitVerifier
from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome
from reconciler.status.book import StatusBook
from reconciler.status.model import REPOSITORY_FILE, RepositoryStatus

from . import desire, health
from .apply import Applier
from .clock import Clock
from .context import Cycle, Failures, Planned, SpecNotes
from .load import Loader
from .options import MANAGED_KINDS, EngineOptions, Trigger
from .planning import Planner
from .ports import Cluster, Source
from .prune import prune
from .report import Reporter

log = structlog.get_logger(__name__)

# Specs whose desired objects are held at once, from plan until applied. Smaller waves cost
# cold-start time: on the real control plane a wave's applies wait behind the pods the waves
# before it started (1,000 specs in waves of 500: cold 15 s -> 26 s). At 5,000 specs two waves
# of 2,500 brought the peak RSS from 257 to 228 MiB, for a cold start of 135-156 s, not 99 s.
WAVE = 2500


class Reconciler:
    """The stages and what each keeps between reconciles; only the worker thread calls it."""

    def __init__(
        self,
        source: Source,
        cluster: Cluster,
        book: StatusBook,
        status_branch: str,
        options: EngineOptions,
        metrics: Metrics,
        clock: Clock,
        verifier: CommitVerifier | None,
        may_write: Callable[[], bool],
        observers: list[Observer],
        delivery: Delivery,
    ) -> None:
        self.cluster = cluster
        self.delivery = delivery  # canary analyses: checks when due, wake-ups for the next
        self.book = book
        self.metrics = metrics
        self.clock = clock
        self.may_write = may_write
        self.notes = SpecNotes()
        self.promotions = Promotions()
        self.guard = Guard(options.max_prune_fraction, options.allow_prune)
        self.loader = Loader(
            source,
            verifier,
            options.limits,
            options.max_fetch_backoff,
            metrics,
            cluster.objects,
            book,
        )
        self.planner = Planner(options.instance, cluster, book, self.notes)
        self.applier = Applier(options.instance, cluster, self.planner, self.notes, metrics, clock)
        self.reporter = Reporter(
            book, status_branch, self.planner, self.promotions, self.notes, metrics, observers
        )

    def reconcile(self, triggers: list[Trigger]) -> None:
        started = self.clock.monotonic()
        structlog.contextvars.clear_contextvars()
        reasons = {t.reason for t in triggers}
        dirty: set[SpecKey] = set()
        if self.loader.due(reasons, started):
            synced = self.loader.sync(started)
            self.notes.changed(synced.changed)
            dirty |= synced.changed
            if synced.refused is not None and self.may_write():
                self.reporter.refused(*synced.refused, self.loader.state)
        self._follow_kinds(refresh=bool(reasons & {"resync", "retry"}))
        state = self.loader.state
        for trigger in triggers:
            if trigger.owner is not None:
                dirty.add(trigger.owner)
                dirty |= state.dependents.get(trigger.owner, set())
        if reasons & {"start", "resync", "retry"}:
            dirty |= self._all_keys()
        # A serving spec's gate shows up in its sources' status too: revisit them together.
        for key in list(dirty):
            dirty |= set(desire.sources_of(state.specs.get(key)))
        if state.head is not None and state.load is not None:
            structlog.contextvars.bind_contextvars(commit=state.head[:12])
            self._restore_guard()
            cycle = Cycle(
                head=state.head,
                load=state.load,
                load_failed=state.load_failed,
                specs=state.specs,
                hashes=state.hashes,
                origins=state.origins,
                dirty=frozenset(dirty | self.guard.revisit()),
                now=self.clock.now(),
            )
            self._converge(cycle)
            # A spec may have found a kind installed since: watch it before its objects change.
            self._follow_kinds(refresh=False)
        self.metrics.reconcile_seconds.observe(self.clock.monotonic() - started)

    def _converge(self, cycle: Cycle) -> None:
        self.promotions.begin()
        order = sorted(cycle.dirty, key=lambda k: (k.kind == "ModelDeployment", k))
        waves = [self._wave(cycle, order[i : i + WAVE]) for i in range(0, len(order), WAVE)]
        planned, failures = _joined(waves)
        changeset = self.guard.withhold(
            planned.changeset,
            head=cycle.head,
            load_failed=cycle.load_failed,
            failed_files=cycle.load.failed_files,
            new_specs=(key for key, origin in cycle.origins.items() if origin == cycle.head),
            owned_before=self._owned_before,
            descends=self.loader.descends,
        )
        prunes = [c for c in changeset.prunes if c.spec not in failures]
        waiting: list[SpecKey] = []
        if prunes:
            still = health.still_waiting(
                self.guard.replacements,
                cycle,
                planned.outcomes,
                failures,
                self.book,
                self.planner,
            )
            waiting = self.guard.keep_waiting(still)
        released = self.guard.release(prunes, waiting)
        if self.may_write():
            failures.update(prune(released, self.cluster.writer, self.metrics))
        self.metrics.prune_guard.set(1 if self.guard.held else 0)
        keys = set(cycle.dirty - planned.unchanged - planned.skipped)
        self.reporter.report(
            cycle, keys, planned.outcomes, failures, changeset, self.loader.state, self.guard
        )
        for key, inputs in planned.clean.items():
            if key not in failures:
                self.notes.settled[key] = inputs

    def _wave(self, cycle: Cycle, keys: list[SpecKey]) -> tuple[Planned, Failures]:
        """Desired, plan and apply for ``keys``; the guard only ever withholds prunes, so
        applying before it has seen every wave's prunes withholds nothing it would have."""
        planned = self._plan(cycle, keys)
        failures = self.applier.apply(cycle, planned.changeset)
        return replace(planned, changeset=planned.changeset.applied()), failures

    def _plan(self, cycle: Cycle, keys: list[SpecKey]) -> Planned:
        """Stages desired and plan for each of ``keys``; serving specs read the runs of training
        specs, so those come first."""
        runs = desire.Runs(self.cluster)
        outcomes: dict[SpecKey, Outcome] = {}
        changes: list[Change] = []
        unchanged: set[SpecKey] = set()
        skipped: set[SpecKey] = set()
        clean: dict[SpecKey, tuple[Any, ...]] = {}
        for key in keys:
            previous = self.notes.settled.pop(key, None)
            if key in cycle.load.invalid:
                outcomes[key] = Outcome(key, cycle.origin(key), Reason.INVALID_SPEC)
                continue
            loaded = cycle.specs.get(key)
            if loaded is None:
                self.promotions.forget(key)
                changes.extend(self.planner.plan_removed(key))
                continue
            inputs = desire.inputs(cycle, key, loaded, runs, self.promotions, self.delivery)
            if previous == inputs:
                self.notes.settled[key] = inputs
                unchanged.add(key)
                continue
            with structlog.contextvars.bound_contextvars(spec=str(key)):
                try:
                    live = self.planner.owned(key)
                    desired = desire.desire(
                        cycle, key, loaded, live, runs, self.promotions, self.delivery, self.book
                    )
                    outcome, acting = self.planner.plan_spec(cycle, key, desired, live)
                except ReconcilerError as exc:
                    log.error("render_failed", reason=str(exc))
                    outcomes[key] = Outcome(key, cycle.origin(key), Reason.RENDER_FAILED, str(exc))
                    continue
                except Exception as exc:
                    # A bug, not the spec's fault: logged with its traceback and counted, the
                    # spec's status left as it was, and the other specs go on.
                    log.exception("spec_plan_crashed", error=type(exc).__name__)
                    self.metrics.reconcile_errors.labels(type(exc).__name__).inc()
                    skipped.add(key)
                    continue
            outcomes[key] = outcome
            changes.extend(acting)
            if outcome.stage_reason is None and not acting:
                clean[key] = inputs
        return Planned(
            outcomes, ChangeSet(tuple(changes)), frozenset(unchanged), frozenset(skipped), clean
        )

    def _follow_kinds(self, refresh: bool) -> None:
        """Watch kinds whose CRD was installed since, stop watching those whose CRD is gone.

        ``refresh`` asks the cluster (one request unless something changed) when a kind is not
        served yet; without it only what discovery learnt meanwhile (a spec that asked for a
        kind, a 404) is acted on. With every kind served a resync asks nothing: a CRD deleted
        since shows up as a 404 on its watch, list or apply.
        """
        try:
            if refresh and len(self.cluster.objects.served_kinds) < len(MANAGED_KINDS):
                self.cluster.kinds.refresh()
            self.cluster.objects.sync_kinds()
            self.cluster.pods.sync_kinds()
        except ApiError as exc:
            log.warning("discovery_failed", reason=str(exc))

    def _all_keys(self) -> set[SpecKey]:
        state = self.loader.state
        keys = set(state.specs) | set(self.book.statuses)
        if state.load is not None:
            keys |= set(state.load.invalid)
        return keys | self.cluster.objects.owners()

    def _restore_guard(self) -> None:
        """Once per process: the last head judged, and a guard that held, from repository.yaml."""
        if self.guard.restored:
            return
        raw = self.book.files.get(REPOSITORY_FILE)
        last = None
        if raw is not None:
            try:
                last = RepositoryStatus.from_yaml(raw)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("repository_status_unreadable", reason=str(exc))
        self.guard.restore(last)

    def _owned_before(self) -> int:
        """How many objects the inventory (the status files) records: owned before this head."""
        keys = (
            set(self.book.statuses) | set(self.loader.state.specs) | self.cluster.objects.owners()
        )
        return sum(
            len(status.resources) for key in keys if (status := self.book.previous(key)) is not None
        )


def _joined(waves: list[tuple[Planned, Failures]]) -> tuple[Planned, Failures]:
    """The waves of one reconcile as if planned and applied at once."""
    outcomes: dict[SpecKey, Outcome] = {}
    changes: list[Change] = []
    unchanged: set[SpecKey] = set()
    skipped: set[SpecKey] = set()
    clean: dict[SpecKey, tuple[Any, ...]] = {}
    failures: Failures = {}
    for planned, failed in waves:
        outcomes.update(planned.outcomes)
        changes.extend(planned.changeset)
        unchanged |= planned.unchanged
        skipped |= planned.skipped
        clean.update(planned.clean)
        failures.update(failed)
    joined = Planned(
        outcomes, ChangeSet(tuple(changes)), frozenset(unchanged), frozenset(skipped), clean
    )
    return joined, failures
