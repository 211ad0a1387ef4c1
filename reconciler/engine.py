"""The control loop: one queue of events, one worker, one reconcile per batch of events.

A reconcile reads as its stages:

    source   fetch the branch; load the specs of a new commit (changed files only)
    specs    find the specs whose content changed, and those touched by cluster events
    render   desired objects per dirty spec (training runs, pipeline steps, promoted models)
    plan     desired vs the watch cache: create / update / keep / prune, with reasons
    guard    hold prunes that a broken or sweeping commit would cause
    apply    server-side apply in rank order; prune what Git no longer declares
    status   health of each dirty spec -> status files -> one commit when any changed

Only dirty specs are rendered and planned, so a commit that changes one spec costs one spec, and
a reconcile with nothing to do makes no API request and no commit.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pygit2
import structlog

from reconciler import backoff, guard, kinds, labels
from reconciler.cluster.apply import Writer
from reconciler.cluster.cache import SpecOwner, WatchCache, WatchEvent
from reconciler.cluster.client import KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.delivery.provider import MetricsProvider
from reconciler.delivery.runner import Delivery
from reconciler.desired import Desired, desired_state, sources_of
from reconciler.errors import ApiError, NotServed, ReconcilerError, SourceError
from reconciler.events import Observer, Report
from reconciler.health import assess, worst
from reconciler.inventory import Inventory, ObjectRef, is_owned, managers, stamp
from reconciler.lifecycle import Run, pod_essentials, runs_from
from reconciler.metrics import Metrics
from reconciler.phase import Phase
from reconciler.phase import Phase as StatusPhase
from reconciler.plan import Action, Change, ChangeSet, guard_prunes, plan
from reconciler.render.identity import spec_hash
from reconciler.source.git import GitSource
from reconciler.source.verify import CommitVerifier
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.specs.loader import ParseCache, load_commit
from reconciler.specs.models import TenancyLimits
from reconciler.status.assemble import Outcome, assemble, invalid, repository_status
from reconciler.status.book import StatusBook
from reconciler.status.model import (
    REPOSITORY_FILE,
    PruneGuard,
    RepositoryStatus,
    SpecStatus,
    StatusChange,
)
from reconciler.status.writer import StatusWriter

log = structlog.get_logger(__name__)

MANAGED_KINDS = kinds.managed()
UNSETTLED = frozenset({StatusPhase.PROGRESSING, StatusPhase.PENDING})


@dataclass(frozen=True)
class Trigger:
    reason: str  # start | poll | commit | webhook | watch | resync | retry | analysis
    owner: SpecOwner | None = None


@dataclass(frozen=True)
class EngineOptions:
    instance: str  # this installation's identity (cluster.inventory): what it owns
    max_prune_fraction: float = 0.5
    allow_prune: str | None = None  # the operator releases the guard held at this commit
    apply_concurrency: int = 4
    limits: TenancyLimits | None = None  # the operator's, tightening reconciler.yaml's
    max_fetch_backoff: float = 60.0  # seconds; a failing remote is retried at most this rarely
    # seconds; a reconcile that raised is retried after 1, 2, 4 ... s, at most this rarely
    max_retry_backoff: float = 60.0
    # A namespaced install watches only these namespaces; None watches cluster-wide.
    watch_namespaces: tuple[str, ...] | None = None


@dataclass
class _State:
    """What the worker remembers between reconciles; only the worker thread touches it."""

    head: str | None = None
    load: LoadResult | None = None
    load_failed: bool = False
    specs: dict[SpecKey, LoadedSpec] = field(default_factory=dict)
    hashes: dict[SpecKey, str] = field(default_factory=dict)
    origins: dict[SpecKey, str] = field(default_factory=dict)  # first commit with this content
    # Runs each serving spec currently serves, (source kind, ns, name, run): kept from history
    # pruning while served, released as soon as that spec serves something else or goes away.
    served: dict[SpecKey, tuple[tuple[str, str, str, str], ...]] = field(default_factory=dict)
    # Why serving specs passed over runs: source -> run -> serving spec name -> why.
    gate_notes: dict[SpecOwner, dict[str, dict[str, str]]] = field(default_factory=dict)
    dependents: dict[SpecOwner, set[SpecKey]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    source_error: str | None = None
    # Why the branch tip's reconciler.yaml is not used (fail closed): the last good commit
    # stays in force, or nothing is applied when there is none. Read by /readyz.
    config_error: str | None = None
    guard: PruneGuard | None = None
    rejected: tuple[str, str] | None = None  # (tip, why) of a tip that failed verification
    fetch_failures: int = 0
    retry_at: float = 0.0  # monotonic time before which timers do not fetch again
    # Everything a spec's last plan read, kept when that plan wrote nothing: the same inputs
    # again give the same plan and status, so a resync skips the spec (see _inputs).
    settled_inputs: dict[SpecKey, tuple[Any, ...]] = field(default_factory=dict)
    # Hand-made changes reverted per spec: reported until the spec itself changes, so the
    # status file records the event instead of flickering for one reconcile.
    drift: dict[SpecKey, tuple[str, ...]] = field(default_factory=dict)
    # Existing objects a spec adopted (spec.adopt), with the origin they were adopted at:
    # reported, like drift, until the spec changes.
    adopted: dict[SpecKey, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    # The prune guard (reconciler.guard), restored from repository.yaml once per process.
    restored: bool = False
    judged: str | None = None  # the last head whose prunes were judged
    hold: PruneGuard | None = None  # the commit held until a new one or the operator releases it
    override: PruneGuard | None = None  # the operator released the hold at this head
    withheld: tuple[PruneGuard, ...] = ()  # why prunes were withheld in the last reconcile
    # Specs whose prunes were withheld or wait: planned again in every reconcile until done.
    deferred: set[SpecKey] = field(default_factory=set)
    # Specs a commit created or changed: prunes wait until they applied and (serving) are Ready.
    replacements: set[SpecKey] = field(default_factory=set)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Engine:
    def __init__(
        self,
        source: GitSource,
        client: KubeClient,
        status: StatusWriter,
        options: EngineOptions,
        metrics: Metrics | None = None,
        clock: Callable[[], str] = _now,
        verifier: CommitVerifier | None = None,
        analysis_metrics: MetricsProvider | None = None,
    ) -> None:
        self.source = source
        self.verifier = verifier
        self.status = status
        self.options = options
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.queue: queue.Queue[Trigger] = queue.Queue()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.discovery = Discovery(client)
        self.cache = WatchCache(
            client,
            self.discovery,
            MANAGED_KINDS,
            f"{labels.MANAGED_SELECTOR},{labels.INSTANCE}={options.instance}",
            self._on_watch,
            namespaces=options.watch_namespaces,
            on_kinds=self._on_kinds,
        )
        self.pods = WatchCache(
            client,
            self.discovery,
            [("v1", "Pod")],
            labels.RUN_HASH,
            self._on_watch,
            keep=pod_essentials,
            namespaces=options.watch_namespaces,
            on_kinds=self._on_kinds,
        )
        self.writer = Writer(
            client,
            self.discovery,
            self.cache,
            concurrency=options.apply_concurrency,
            stopping=self.stopping,
        )
        self.parse_cache = ParseCache()
        self.state = _State()
        self.reconciles = 0
        # Heartbeat: when the reconcile running now began (monotonic), None between reconciles.
        # Liveness fails once it is older than the configured bound (a stuck worker).
        self.busy_since: float | None = None
        # Reconciles that raised in a row, and the last one's error type; cleared by a success.
        self.failures = 0
        self.last_error: str | None = None
        self._retry_at = 0.0  # monotonic time before which the worker does not reconcile again
        self._busy = threading.Lock()
        self._pins: dict[SpecOwner, set[str]] = {}
        # Replaced by the leader elector's check when replicas elect one writer.
        self.may_write: Callable[[], bool] = lambda: True
        # Told what each reconcile did (Kubernetes Events, notifications); set by the service.
        self.observers: list[Observer] = []
        # Replaced by the service: True while an observer still has something to send.
        self.telling: Callable[[], bool] = lambda: False
        self.book = StatusBook(status, self.metrics, lambda: self.may_write())
        # Canary analyses: a check when one is due, a wake-up trigger for the next.
        self.delivery = Delivery(
            analysis_metrics, self.clock, lambda owner: self.queue.put(Trigger("analysis", owner))
        )

    # ------------------------------------------------------------------ events

    def _on_watch(self, event: WatchEvent) -> None:
        if event.owner is not None and self.ready.is_set():
            self.queue.put(Trigger("watch", event.owner))

    def _on_kinds(self) -> None:
        # A CRD installed or deleted: specs that waited for it, or used it, are planned again.
        if self.ready.is_set():
            self.queue.put(Trigger("resync"))

    def trigger(self, reason: str) -> None:
        self.queue.put(Trigger(reason))

    def start(self) -> None:
        """Prime the caches and read the status branch: what the first reconcile starts from.

        Raises ApiError when the API server cannot be reached; called again, it goes on.
        """
        self.cache.start()
        self.pods.start()
        self.book.load()
        self.ready.set()

    def stop(self) -> None:
        self.stopping.set()
        self.delivery.stop()
        self.cache.stop()
        self.pods.stop()

    def run_forever(self) -> None:
        self.queue.put(Trigger("start"))
        while not self.stopping.is_set():
            # After a failed reconcile, events wait in the queue until the backoff has run out.
            if self.stopping.wait(self._backoff_left()):
                break
            try:
                first = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            with self._busy:
                self.reconcile(self._drain(first))
                if self.reconciles == 1:
                    _freeze_long_lived()

    @property
    def idle(self) -> bool:
        """No reconcile running and none queued, and what the last one did told: what a caller
        waits for before it looks."""
        if not self._busy.acquire(blocking=False):
            return False
        try:
            return self.queue.empty() and not self.telling()
        finally:
            self._busy.release()

    def _drain(self, first: Trigger) -> list[Trigger]:
        batch = [first]
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                return batch

    def run_until_settled(self, timeout: float) -> bool:
        """Reconcile until no spec is progressing or waiting on progress; True when settled."""
        deadline = time.monotonic() + timeout
        self.reconcile([Trigger("start")])
        while not self.settled():
            if time.monotonic() > deadline or self.stopping.is_set():
                return False
            if self.stopping.wait(min(self._backoff_left(), deadline - time.monotonic())):
                return False
            try:
                first = self.queue.get(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                continue
            self.reconcile(self._drain(first))
        return True

    def _backoff_left(self) -> float:
        return max(0.0, self._retry_at - time.monotonic())

    def settled(self) -> bool:
        state = self.state
        if state.head is None:
            # Nothing was ever loaded: settled only in that nothing more will happen on its own.
            return state.source_error is not None or state.config_error is not None
        statuses = self.book.statuses
        unsettled = {key for key, status in statuses.items() if status.phase in UNSETTLED}
        for key in unsettled:
            status = statuses[key]
            if key.kind != "ModelDeployment" or status.phase is StatusPhase.PROGRESSING:
                return False
            # A serving spec waiting for a gate is settled once what it waits for has finished.
            sources = sources_of(state.specs.get(key))
            if any(
                statuses.get(SpecKey(*source)) is None
                or statuses[SpecKey(*source)].phase in UNSETTLED
                for source in sources
            ):
                return False
        return not self.book.pending

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, triggers: Iterable[Trigger]) -> None:
        """Reconcile once; an unexpected error is logged, counted and retried with backoff."""
        if not self.may_write():
            self.stopping.set()
            return
        self.busy_since = time.monotonic()
        # A bug met by one reconcile must not end the process: it keeps serving, keeps what it
        # applied, and tries again with every spec dirty, so nothing the failed attempt had
        # dirtied is lost.
        try:
            self._reconcile(list(triggers))
        except Exception as exc:
            self._failed(exc)
        else:
            self.failures, self.last_error, self._retry_at = 0, None, 0.0
        finally:
            self.busy_since = None

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        wait = backoff.delay(self.failures, base=1.0, cap=self.options.max_retry_backoff)
        self._retry_at = time.monotonic() + wait
        self.last_error = type(exc).__name__
        self.metrics.reconcile_errors.labels(type(exc).__name__).inc()
        log.exception(
            "reconcile_failed",
            error=type(exc).__name__,
            failures=self.failures,
            retry_in=round(wait, 2),
        )
        self.queue.put(Trigger("retry"))

    def _reconcile(self, triggers: list[Trigger]) -> None:
        started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        dirty: set[SpecKey] = set()
        reasons = {t.reason for t in triggers}
        # A push or webhook is news: fetch at once. A timer only fetches once any backoff
        # from earlier failures has run out.
        news = bool(reasons & {"start", "commit", "webhook"})
        timer = reasons & {"poll", "resync", "retry"}
        if news or (timer and time.monotonic() >= self.state.retry_at):
            dirty |= self._sync_source()
        self._follow_kinds(refresh=bool(reasons & {"resync", "retry"}))
        for trigger in triggers:
            if trigger.owner is not None:
                dirty.add(SpecKey(*trigger.owner))
                dirty |= self.state.dependents.get(trigger.owner, set())
        if reasons & {"start", "resync", "retry"}:
            dirty |= self._all_keys()
        # A serving spec's gate shows up in its sources' status too: revisit them together.
        for key in list(dirty):
            dirty |= {SpecKey(*source) for source in sources_of(self.state.specs.get(key))}
        if self.state.head is not None:
            structlog.contextvars.bind_contextvars(commit=self.state.head[:12])
            self._converge(dirty)
            # A spec may have found a kind installed since: watch it before its objects change.
            self._follow_kinds(refresh=False)
        self.reconciles += 1
        self.metrics.reconcile_seconds.observe(time.perf_counter() - started)

    def _follow_kinds(self, refresh: bool) -> None:
        """Watch kinds whose CRD was installed since, stop watching those whose CRD is gone.

        ``refresh`` asks the cluster (one request unless something changed) when a kind is not
        served yet; without it only what discovery learnt meanwhile (a spec that asked for a
        kind, a 404) is acted on. With every kind served a resync asks nothing: a CRD deleted
        since shows up as a 404 on its watch, list or apply.
        """
        try:
            if refresh and len(self.cache.served_kinds) < len(MANAGED_KINDS):
                self.discovery.refresh()
            self.cache.sync_kinds()
            self.pods.sync_kinds()
        except ApiError as exc:
            log.warning("discovery_failed", reason=str(exc))

    def _all_keys(self) -> set[SpecKey]:
        state = self.state
        keys = set(state.specs) | set(self.book.statuses)
        if state.load is not None:
            keys |= set(state.load.invalid)
        keys |= {SpecKey(*owner) for owner in self.cache.owners()}
        return keys

    # ------------------------------------------------------------------ source

    def _sync_source(self) -> set[SpecKey]:
        state = self.state
        try:
            head = str(self.source.fetch())
        except SourceError as exc:
            state.fetch_failures += 1
            delay = backoff.delay(
                state.fetch_failures, base=2.0, cap=self.options.max_fetch_backoff, jitter=False
            )
            state.retry_at = time.monotonic() + delay
            if state.source_error != str(exc):
                log.warning("source_failed", reason=str(exc), retry_in=delay)
            state.source_error = str(exc)
            self.metrics.git_errors.labels("fetch").inc()
            return set()
        state.source_error = None
        state.fetch_failures, state.retry_at = 0, 0.0
        if head == state.head:
            state.config_error = None  # the tip is back at the commit in force
            return set()
        structlog.contextvars.bind_contextvars(commit=head[:12])
        # An unverified tip is never loaded: state.head, and so the cluster, stay at the last
        # verified commit, and the reason reaches repository.yaml through source_error.
        rejection = self._verify(head)
        if rejection is not None:
            state.source_error = rejection
            return set()
        try:
            result = load_commit(
                self.source.repo, head, self.parse_cache, limits=self.options.limits
            )
        except ReconcilerError as exc:
            log.error("load_failed", reason=str(exc))
            state.load_failed = True
            state.source_error = f"specs at {head[:7]} did not load: {exc}"
            return set()
        if result.config_problems:
            # Fail closed: without its reconciler.yaml a commit's limits, default namespace and
            # ignores are unknown, so nothing of it is applied and nothing is pruned for it.
            state.config_error = _config_error(head, state.head, result)
            log.error("config_invalid", reason=state.config_error)
            if state.head is None and self.may_write():
                # No reconcile reports while nothing was ever applied: say why now.
                refused = repository_status(
                    "", LoadResult(config=result.config), None, None, state.config_error
                )
                self.book.flush([], head, refused)
            return set()
        state.config_error = None
        state.load_failed = False
        new_specs = {loaded.key: loaded for loaded in result.specs}
        # The parse cache hands back the same spec object for an unchanged document: only new
        # content is hashed, so a commit costs its changed files, not the repository.
        new_hashes = {
            key: state.hashes[key]
            if (old := state.specs.get(key)) is not None and old.spec is loaded.spec
            else spec_hash(loaded.spec)
            for key, loaded in new_specs.items()
        }
        changed = {
            key
            for key in set(new_specs) | set(state.specs)
            if new_hashes.get(key) != state.hashes.get(key)
        }
        old_invalid = set(state.load.invalid) if state.load else set()
        changed |= old_invalid ^ set(result.invalid)
        changed |= set(result.invalid)
        for key in changed:
            state.drift.pop(key, None)
            if key in new_specs:
                state.origins[key] = self._origin(key, new_hashes[key], head)
            else:
                state.origins.pop(key, None)
        for key in result.invalid:
            state.origins.setdefault(key, head)
        state.head, state.load, state.specs, state.hashes = head, result, new_specs, new_hashes
        state.dependents = _dependents(new_specs.values())
        self.metrics.source.info({"commit": head})
        log.info("source_loaded", specs=len(new_specs), problems=len(result.problems))
        return changed

    def _verify(self, head: str) -> str | None:
        """None when ``head`` may be applied, else why not; a refused tip is checked once."""
        state = self.state
        if self.verifier is None:
            return None
        if state.rejected is not None and state.rejected[0] == head:
            return state.rejected[1]
        result = self.verifier.verify(self.source.repo, head)
        if result.ok:
            state.rejected = None
            log.info("source_verified", signer=result.signer, reason=result.reason)
            return None
        reason = f"tip {head[:7]} not applied: {result.reason}"
        log.warning("source_unverified", reason=result.reason)
        self.metrics.git_errors.labels("verify").inc()
        state.rejected = (head, reason)
        return reason

    def _origin(self, key: SpecKey, content_hash: str, head: str) -> str:
        """The commit where this content first appeared: kept across restarts by the objects."""
        if self.state.hashes.get(key) == content_hash and key in self.state.origins:
            return self.state.origins[key]
        for obj in self.cache.owned_by(tuple(key)):
            annotations = obj.get("metadata", {}).get("annotations") or {}
            if annotations.get(labels.SPEC_HASH) == content_hash:
                return annotations.get(labels.SOURCE_COMMIT) or head
        status = self.book.previous(key)
        if status is not None and status.extra.get("specHash") == content_hash:
            return status.observed_commit
        return head

    # ------------------------------------------------------------------ converge

    def _runs_of(self, memo: dict[SpecOwner, list[Run]]) -> Callable[[str, str, str], list[Run]]:
        def runs_of(kind: str, namespace: str, name: str) -> list[Run]:
            owner = (kind, namespace, name)
            if owner not in memo:
                memo[owner] = runs_from(self.cache.owned_by(owner), self.pods.owned_by(owner))
            return memo[owner]

        return runs_of

    def _converge(self, dirty: set[SpecKey]) -> None:
        state = self.state
        assert state.load is not None and state.head is not None
        self._restore_guard()
        # Withheld prunes are planned again every reconcile, with what they wait for, so the
        # first reconcile that finds them releasable (a watch event, a resync) makes them.
        if state.deferred:
            dirty |= state.deferred | state.replacements
        runs_memo: dict[SpecOwner, list[Run]] = {}
        runs_of = self._runs_of(runs_memo)
        self._index_pins()
        outcomes: dict[SpecKey, Outcome] = {}
        changes: list[Change] = []
        unchanged: set[SpecKey] = set()
        clean: dict[SpecKey, tuple[Any, ...]] = {}
        # Serving specs read the runs of training specs: plan training first.
        for key in sorted(dirty, key=lambda k: (k.kind == "ModelDeployment", k)):
            owner = tuple(key)
            origin = state.origins.get(key, state.head)
            previous = state.settled_inputs.pop(key, None)
            if key in state.load.invalid:
                outcomes[key] = Outcome(key, origin, "InvalidSpec")
                continue
            loaded = state.specs.get(key)
            if loaded is None:
                state.served.pop(key, None)
                live = self._owned(owner)
                changes.extend(plan([], live, inventory=self._inventory(key, [], live)).changes)
                continue
            inputs = self._inputs(key, loaded, origin)
            if previous == inputs:
                state.settled_inputs[key] = inputs
                unchanged.add(key)
                continue
            live = self._owned(owner)
            planned = len(changes)
            traffic = self.delivery.step(loaded, self.book.previous(key), live)
            try:
                desired = desired_state(loaded, origin, live, runs_of, self._pinned(owner), traffic)
            except (ReconcilerError, ValueError, KeyError) as exc:
                log.error("render_failed", spec=str(key), reason=str(exc))
                outcomes[key] = Outcome(key, origin, "RenderFailed", str(exc))
                continue
            desired = self.delivery.report(key, desired)
            self._record_pins(key, desired)
            outcomes[key] = self._plan_spec(key, origin, desired, live, changes)
            if outcomes[key].stage_reason is None and len(changes) == planned:
                clean[key] = inputs
        changeset = self._guard(ChangeSet(tuple(changes)))
        failures = self._write(changeset, outcomes)
        self.metrics.prune_guard.set(1 if state.guard is not None and state.guard.held else 0)
        self._report(dirty - unchanged, outcomes, failures, changeset)
        for key, inputs in clean.items():
            if tuple(key) not in failures:
                state.settled_inputs[key] = inputs

    def _restore_guard(self) -> None:
        """Once per process: the last head judged, and a guard that held, from repository.yaml."""
        state = self.state
        if state.restored:
            return
        state.restored = True
        raw = self.book.files.get(REPOSITORY_FILE)
        if raw is None:
            return
        try:
            last = RepositoryStatus.from_yaml(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("repository_status_unreadable", reason=str(exc))
            return
        state.judged = last.source_commit or None
        held = last.prune_guard
        if held is None:
            return
        state.guard = held
        if held.held and held.commit:
            state.hold = held
            log.info("prune_guard_restored", held_commit=held.commit[:12])
        state.replacements = {SpecKey(*key.split("/", 2)) for key in held.waiting_for}

    def _guard(self, changeset: ChangeSet) -> ChangeSet:
        """Withhold the prunes a broken, sweeping or rewritten commit would cause.

        A new head is judged once; a hold stays across reconciles until a new head is judged
        within the limit or the operator names the held commit (``reconciler.guard``).
        """
        state = self.state
        assert state.head is not None and state.load is not None
        spec_of = {change.ref: change.spec for change in changeset.prunes}
        changeset, kept = guard_prunes(
            changeset, load_failed=state.load_failed, failed_files=state.load.failed_files
        )
        withheld: list[PruneGuard] = []
        if kept is not None:
            withheld.append(PruneGuard(held=kept.held, reason=f"{kept.reason}; {kept.override}"))
            state.deferred |= {SpecKey(*spec) for ref in kept.refs if (spec := spec_of.get(ref))}
        if state.head != state.judged and not state.load_failed:
            self._judge(changeset)
        if state.hold is not None and guard.overridden(state.hold, self.options.allow_prune):
            log.warning("prune_guard_overridden", held_commit=state.hold.commit[:12])
            state.override = guard.released(state.hold)
            state.hold = None
        if state.hold is not None:
            withheld.append(state.hold)
            refs = tuple(change.ref for change in changeset.prunes)
            state.deferred |= {SpecKey(*c.spec) for c in changeset.prunes if c.spec is not None}
            changeset = changeset.withholding(refs)
        elif state.override is not None:
            withheld.append(state.override)
        state.withheld = tuple(withheld)
        return changeset

    def _judge(self, changeset: ChangeSet) -> None:
        """Judge a new head's prunes once: the share it removes, and whether history followed."""
        state = self.state
        assert state.head is not None
        previous, state.judged = state.judged, state.head
        state.override = None
        # What replaced removed objects must serve before they go; a new commit starts a new
        # list unless older prunes still wait on theirs.
        if not (state.guard is not None and state.guard.waiting_for):
            state.replacements = set()
        state.replacements |= {key for key, origin in state.origins.items() if origin == state.head}
        prunes = len(changeset.prunes)
        if not prunes:
            state.hold = None
            return
        owned_before = state.hold.owned_before if state.hold else self._owned_before()
        rewritten = previous if previous and not self._descends(state.head, previous) else None
        state.hold = guard.judge(
            state.head,
            prunes=prunes,
            owned_before=owned_before,
            max_fraction=self.options.max_prune_fraction,
            rewritten_from=rewritten,
        )
        if state.hold is not None:
            log.warning("prune_guard_held", reason=state.hold.reason)

    def _owned_before(self) -> int:
        """How many objects the inventory (the status files) records: owned before this head."""
        keys = set(self.book.statuses) | set(self.state.specs)
        keys |= {SpecKey(*owner) for owner in self.cache.owners()}
        return sum(
            len(status.resources) for key in keys if (status := self.book.previous(key)) is not None
        )

    def _descends(self, head: str, previous: str) -> bool:
        """False when ``head`` rewrote or replaced the history that led to ``previous``."""
        try:
            return bool(self.source.repo.descendant_of(head, previous))
        except (KeyError, ValueError, pygit2.GitError):
            return False  # the old head is gone from the clone: its history was replaced

    def _waiting(
        self, outcomes: dict[SpecKey, Outcome], failures: dict[SpecOwner, _Failure]
    ) -> list[SpecKey]:
        """Replacements that have not applied, or (serving) are not Ready yet."""
        state = self.state
        state.replacements = {
            key for key in state.replacements if not self._replaced(key, outcomes, failures)
        }
        return sorted(state.replacements)

    def _replaced(
        self, key: SpecKey, outcomes: dict[SpecKey, Outcome], failures: dict[SpecOwner, _Failure]
    ) -> bool:
        state = self.state
        assert state.load is not None
        if key in state.load.invalid:
            return False
        if key not in state.specs:
            return True  # removed since: it replaces nothing
        outcome = outcomes.get(key)
        serving = key.kind == "ModelDeployment"
        if outcome is None:  # planned clean before and nothing it reads changed since
            status = self.book.statuses.get(key)
            return not serving or (status is not None and status.phase is StatusPhase.READY)
        if outcome.stage_reason is not None or tuple(key) in failures:
            return False
        if outcome.waiting is not None or not serving:
            return True
        current = [o for o in self._owned(tuple(key)) if o["metadata"]["name"] in outcome.current]
        return bool(current) and worst(assess(obj) for obj in current).phase <= Phase.READY

    def _owned(self, owner: SpecOwner) -> list[dict[str, Any]]:
        """The objects of a spec that this installation owns (their tracking id is ours)."""
        return [o for o in self.cache.owned_by(owner) if is_owned(o, self.options.instance)]

    def _inventory(
        self, key: SpecKey, desired: Iterable[dict[str, Any]], live: list[dict[str, Any]]
    ) -> Inventory:
        """What ``key`` recorded applying; read only when some live object is not desired."""
        wanted = {ObjectRef.from_object(obj).key for obj in desired}
        if all(ObjectRef.from_object(obj).key in wanted for obj in live):
            return Inventory(self.options.instance)
        return self._recorded(key)

    def _recorded(self, key: SpecKey) -> Inventory:
        """The inventory of ``key``: its status file's resources, as last written."""
        status = self.book.previous(key)
        refs = status.resources if status is not None else ()
        return Inventory.of(
            self.options.instance,
            ((ObjectRef(r.api_version, r.kind, r.namespace, r.name), r.uid) for r in refs),
        )

    def _inputs(self, key: SpecKey, loaded: LoadedSpec, origin: str) -> tuple[Any, ...]:
        """What render, plan and status of ``key`` read: the spec, where it came from, the
        resourceVersions of its objects and of the runs it may serve, pins and gate notes."""
        owner = tuple(key)
        versions = self.cache.versions(owner) + self.pods.versions(owner)
        for source in sources_of(loaded):
            versions += self.cache.versions(source) + self.pods.versions(source)
        notes = self.state.gate_notes.get(owner, {})
        return (
            self.state.hashes.get(key),
            loaded.file,
            origin,
            tuple(versions),
            frozenset(self._pinned(owner)),
            tuple((run, tuple(sorted(why.items()))) for run, why in sorted(notes.items())),
            self.delivery.inputs(key),
        )

    def _pinned(self, source: SpecOwner) -> set[str]:
        """Runs of ``source`` that some serving spec served as this converge began."""
        return self._pins.get(source, set())

    def _index_pins(self) -> None:
        # Once per converge, not per spec: a resync of thousands of specs stays linear.
        self._pins = {}
        for served in self.state.served.values():
            for kind, namespace, name, run in served:
                self._pins.setdefault((kind, namespace, name), set()).add(run)

    def _record_pins(self, key: SpecKey, desired: Desired) -> None:
        if desired.served_runs:
            self.state.served[key] = desired.served_runs
        else:
            self.state.served.pop(key, None)
        if key.kind != "ModelDeployment":
            return
        for runs in self.state.gate_notes.values():
            for notes in runs.values():
                notes.pop(key.name, None)
        for source, run, why in desired.rejections:
            self.state.gate_notes.setdefault(source, {}).setdefault(run, {})[key.name] = why

    def _plan_spec(
        self,
        key: SpecKey,
        origin: str,
        desired: Desired,
        live: list[dict[str, Any]],
        changes: list[Change],
    ) -> Outcome:
        extra = dict(desired.extra)
        extra["specHash"] = self.state.hashes[key]
        if desired.objects is None:
            return Outcome(key, origin, waiting=desired.waiting, extra=extra)
        missing = sorted(
            {
                f"{obj['apiVersion']} {obj['kind']}"
                for obj in desired.objects
                if not self.discovery.served(obj["apiVersion"], obj["kind"])
            }
        )
        if missing:
            first = desired.objects[0]
            for obj in desired.objects:
                if f"{obj['apiVersion']} {obj['kind']}" == missing[0]:
                    first = obj
            message = str(NotServed(first["apiVersion"], first["kind"]))
            return Outcome(key, origin, "NotInstalled", message, extra=extra)
        # Every object applied carries our identity: the instance label and its tracking id.
        objects = [stamp(obj, self.options.instance) for obj in desired.objects]
        inventory = self._inventory(key, objects, live)
        changeset = plan(objects, live, inventory=inventory, retain=desired.retain)
        # Only what acts is held until the writes: a resync of thousands of specs would otherwise
        # keep every spec's desired and live objects at once.
        changes.extend(c for c in changeset.changes if c.action not in (Action.NOOP, Action.KEEP))
        drift = tuple(
            f"{change.ref.kind}/{change.ref.name}: {change.reason}"
            for change in changeset.updates
            if change.reason.startswith("drifted")
        )
        if drift:
            self.state.drift[key] = drift
        drift = self.state.drift.get(key, ())
        current = frozenset(obj["metadata"]["name"] for obj in desired.objects)
        return Outcome(key, origin, current=current, extra=extra, drift_reverted=drift)

    def _write(
        self, changeset: ChangeSet, outcomes: dict[SpecKey, Outcome]
    ) -> dict[SpecOwner, _Failure]:
        """Apply, then prune last: only once what replaces the removed objects applied and (for
        serving) is Ready; the first error per spec."""
        state = self.state
        failures = self._apply(changeset)
        prunes = [c for c in changeset.prunes if c.spec not in failures]
        waiting = self._waiting(outcomes, failures) if prunes else []
        wait = guard.waiting(str(key) for key in waiting)
        if wait is not None:
            state.deferred |= {SpecKey(*c.spec) for c in prunes if c.spec is not None}
        else:
            failures.update(self._prune(prunes))
            if not state.withheld:
                state.deferred = set()
        state.guard = guard.combined([*state.withheld, wait])
        return failures

    def _apply(self, changeset: ChangeSet) -> dict[SpecOwner, _Failure]:
        """Create and update; the first error per spec. A spec that would write onto an object
        it does not own writes nothing (NotOwned)."""
        failures: dict[SpecOwner, _Failure] = {}
        to_apply = [c for c in changeset.changes if c.action in (Action.CREATE, Action.UPDATE)]
        self._check_creates([c for c in to_apply if c.action is Action.CREATE], failures)
        to_apply = [c for c in to_apply if c.spec is None or c.spec not in failures]
        for change in to_apply:
            if change.action is Action.UPDATE:
                log.info("updating", object=str(change.ref), reason=change.reason)
        for namespace in sorted({c.ref.namespace for c in to_apply} - self.state.namespaces):
            if not namespace:
                continue
            error = self.writer.ensure_namespace(namespace)
            if error is None:
                self.state.namespaces.add(namespace)
            else:
                for change in to_apply:
                    if change.ref.namespace == namespace and change.spec is not None:
                        failures.setdefault(change.spec, _Failure("ApplyFailed", error))
        objects = [
            _stamped(c) if c.action is Action.CREATE else c.desired
            for c in to_apply
            if c.desired is not None and (c.spec is None or c.spec not in failures)
        ]
        owners = {ObjectRef.from_object(c.desired).key: c.spec for c in to_apply if c.desired}
        for result in self.writer.apply(objects):
            self.metrics.writes.labels("apply", "ok" if result.ok else "error").inc()
            owner = owners.get(result.ref.key)
            if not result.ok and owner is not None:
                failures.setdefault(owner, _Failure("ApplyFailed", result.error or "apply failed"))
        return failures

    def _check_creates(self, creates: list[Change], failures: dict[SpecOwner, _Failure]) -> None:
        """Look before creating: an object already at that address is written to only when it
        is ours (its tracking id, or our record of applying it) or its spec opts in to adopt it."""
        if not creates:
            return
        state = self.state
        cached = {c.ref: found for c in creates if (found := self.cache.get(c.ref)) is not None}
        lookup = self.writer.lookup([c.ref for c in creates if c.ref not in cached])
        for change in creates:
            if change.spec is None:
                continue
            key = SpecKey(*change.spec)
            if change.ref in lookup.errors:
                message = f"cannot tell whether {change.ref} exists: {lookup.errors[change.ref]}"
                failures.setdefault(change.spec, _Failure("ApplyFailed", message))
                continue
            found = cached.get(change.ref) or lookup.found.get(change.ref)
            if found is None or is_owned(found, self.options.instance):
                continue
            held_by = ", ".join(managers(found)) or "unknown"
            where = f"{change.ref.kind} {change.ref.namespace}/{change.ref.name}"
            if self._recorded(key).records(found):
                # Applied by this installation before it wrote tracking ids: still ours.
                log.info("recorded_object_claimed", spec=str(key), object=str(change.ref))
                continue
            loaded = state.specs.get(key)
            if loaded is not None and getattr(loaded.spec.spec, "adopt", False):
                log.warning("adopting", spec=str(key), object=str(change.ref), managers=held_by)
                origin = state.origins.get(key, "")
                since, notes = state.adopted.get(key, (origin, ()))
                notes = notes if since == origin else ()
                state.adopted[key] = (origin, (*notes, f"{where} (managed by {held_by})"))
                continue
            message = (
                f"{where} already exists and is not owned by this reconciler "
                f"(instance {self.options.instance}); managed by {held_by}. Nothing was "
                "written for this spec; rename it, or set spec.adopt: true to take the object over"
            )
            log.warning("not_owned", spec=str(key), object=str(change.ref), managers=held_by)
            failures.setdefault(change.spec, _Failure("NotOwned", message))

    def _prune(self, prunes: list[Change]) -> dict[SpecOwner, _Failure]:
        """Delete what Git no longer declares; the first error per spec."""
        failures: dict[SpecOwner, _Failure] = {}
        if not prunes or not self.may_write():
            return failures
        prune_owner = {c.ref: c.spec for c in prunes}
        for result in self.writer.delete([c.ref for c in prunes]):
            self.metrics.writes.labels("delete", "ok" if result.ok else "error").inc()
            owner = prune_owner.get(result.ref)
            if not result.ok and owner is not None:
                failures.setdefault(owner, _Failure("ApplyFailed", result.error or "delete failed"))
        return failures

    # ------------------------------------------------------------------ status

    def _report(
        self,
        dirty: set[SpecKey],
        outcomes: dict[SpecKey, Outcome],
        failures: dict[SpecOwner, _Failure],
        changeset: ChangeSet,
    ) -> None:
        state = self.state
        assert state.head is not None and state.load is not None
        now = self.clock()
        changes: list[StatusChange] = []
        for key in dirty:
            outcome = outcomes.get(key)
            status: SpecStatus | None
            if key in state.load.invalid:
                origin = state.origins.get(key, state.head)
                status = invalid(origin, state.load.invalid[key], now, self._owned(tuple(key)))
            elif outcome is None:
                status = None
                if self._owned(tuple(key)):
                    continue  # removal withheld by the guard: keep the last status
            else:
                failure = failures.get(tuple(key))
                if failure is not None and outcome.stage_reason is None:
                    outcome = Outcome(key, outcome.source_commit, *failure, extra=outcome.extra)
                # Health reads the objects as they are after apply.
                outcome = replace(outcome, objects=self._owned(tuple(key)))
                status = self._with_adoptions(key, assemble(self._with_gate_notes(outcome), now))
            change = self.book.record(key, status)
            if change is not None:
                changes.append(change)
        self.metrics.specs_by_phase.clear()
        for (kind, phase), count in self.book.phase_counts().items():
            self.metrics.specs_by_phase.labels(kind, phase).set(count)
        repository = repository_status(
            state.head,
            state.load,
            state.source_error,
            state.guard,
            config_error=state.config_error,
            status_branch=self.status.branch,
        )
        written = [
            c
            for c in changeset.changes
            if (c.spec is None or c.spec not in failures)
            # Prunes the guard deferred did not happen (yet).
            and not (
                c.action is Action.PRUNE
                and c.spec is not None
                and SpecKey(*c.spec) in state.deferred
            )
        ]
        self.book.did(
            state.head,
            applied=(str(c.ref) for c in written if c.action in (Action.CREATE, Action.UPDATE)),
            pruned=(str(c.ref) for c in written if c.action is Action.PRUNE),
            changes=changes,
        )
        self.book.flush(changes, state.head, repository)
        report = Report(
            state.head,
            now,
            written=tuple(written),
            failed=tuple(c for c in changeset.changes if c.spec in failures),
            failures={spec: (f.reason, f.message) for spec, f in failures.items()},
            changes=tuple(changes),
        )
        for observer in self.observers:
            observer.observe(report)

    def _with_adoptions(self, key: SpecKey, status: SpecStatus) -> SpecStatus:
        """Say which existing objects the spec took over (spec.adopt), until the spec changes."""
        since, notes = self.state.adopted.get(key, ("", ()))
        if not notes or since != self.state.origins.get(key):
            return status
        message = f"adopted {', '.join(notes)}"
        return replace(
            status,
            message=f"{status.message}; {message}" if status.message else message,
            extra={**status.extra, "adopted": list(notes)},
        )

    def _with_gate_notes(self, outcome: Outcome) -> Outcome:
        """Say on each run which serving specs passed it over, and why."""
        notes = self.state.gate_notes.get(tuple(outcome.key), {})
        if not notes:
            return outcome
        extra = dict(outcome.extra)
        for field_name in ("runs", "steps"):
            entries = []
            for entry in extra.get(field_name) or ():
                why = notes.get(entry.get("name")) or notes.get(entry.get("run"))
                if why:
                    entry = {**entry, "notPromoted": dict(sorted(why.items()))}
                entries.append(entry)
            if entries:
                extra[field_name] = entries
        return replace(outcome, extra=extra)


class _Failure(NamedTuple):
    """Why a spec's writes failed: the stage reason (ApplyFailed, NotOwned) and message."""

    reason: str
    message: str


def _stamped(change: Change) -> dict[str, Any]:
    """A new run carries its creation time to the microsecond, so runs sort newest first."""
    assert change.desired is not None
    if labels.RUN_HASH not in (change.desired["metadata"].get("labels") or {}):
        return change.desired
    metadata = change.desired["metadata"]
    annotations = {
        **(metadata.get("annotations") or {}),
        labels.CREATED_AT: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return {**change.desired, "metadata": {**metadata, "annotations": annotations}}


def _freeze_long_lived() -> None:
    """Leave what the first reconcile built out of every later garbage collection.

    Thousands of parsed specs, cache entries and statuses live as long as the process. Python's
    full collection walks all of them (about 0.2 s at 5,000 specs), and it ran during about every
    other small reconcile, doubling the time a push took to go live. Frozen objects are still
    freed by reference counting; only cycles among them would stay. Once per process: a second
    engine in the same process (tests) finds the first freeze in place.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _config_error(head: str, in_force: str | None, result: LoadResult) -> str:
    """One line for repository.yaml and /readyz: which commit, what stays, the first problems."""
    problems = result.config_problems
    listed = "; ".join(str(problem) for problem in problems[:3])
    if len(problems) > 3:
        listed += f" (+{len(problems) - 3} more)"
    kept = f"{in_force[:7]} stays in force" if in_force else "nothing is applied"
    return f"reconciler.yaml at {head[:7]} is invalid, {kept}: {listed}"


def _dependents(specs: Iterable[LoadedSpec]) -> dict[SpecOwner, set[SpecKey]]:
    """Which serving specs to revisit when a training spec's runs change."""
    dependents: dict[SpecOwner, set[SpecKey]] = {}
    for loaded in specs:
        for source in sources_of(loaded):
            dependents.setdefault(source, set()).add(loaded.key)
    return dependents
