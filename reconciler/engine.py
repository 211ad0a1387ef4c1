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
from typing import Any

import structlog

from reconciler import labels
from reconciler.cluster.apply import Writer
from reconciler.cluster.cache import SpecOwner, WatchCache, WatchEvent
from reconciler.cluster.client import KubeClient
from reconciler.cluster.discovery import Discovery, NotServed
from reconciler.cluster.inventory import ObjectRef
from reconciler.desired import Desired, desired_state
from reconciler.errors import ReconcilerError, SourceError
from reconciler.lifecycle import Run, pod_essentials, runs_from
from reconciler.metrics import Metrics
from reconciler.plan import Action, Change, ChangeSet, guard_prunes, plan
from reconciler.render.identity import spec_hash
from reconciler.source.git import GitSource
from reconciler.source.verify import CommitVerifier
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.specs.loader import ParseCache, load_commit
from reconciler.specs.models import ModelDeployment, ModelSource, TenancyLimits
from reconciler.status.assemble import Outcome, assemble, invalid, repository_status
from reconciler.status.book import StatusBook
from reconciler.status.model import Phase as StatusPhase
from reconciler.status.model import (
    PruneGuard,
    SpecStatus,
    StatusChange,
)
from reconciler.status.writer import StatusWriter

log = structlog.get_logger(__name__)

MANAGED_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("batch/v1", "Job"),
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"),
    ("kubeflow.org/v1", "PyTorchJob"),
    ("ray.io/v1", "RayJob"),
)
UNSETTLED = frozenset({StatusPhase.PROGRESSING, StatusPhase.PENDING})


@dataclass(frozen=True)
class Trigger:
    reason: str  # start | poll | commit | webhook | watch | resync
    owner: SpecOwner | None = None


@dataclass(frozen=True)
class EngineOptions:
    max_prune_fraction: float = 0.5
    apply_concurrency: int = 4
    limits: TenancyLimits | None = None  # the operator's, tightening reconciler.yaml's
    max_fetch_backoff: float = 60.0  # seconds; a failing remote is retried at most this rarely


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
            client, self.discovery, MANAGED_KINDS, labels.MANAGED_SELECTOR, self._on_watch
        )
        self.pods = WatchCache(
            client,
            self.discovery,
            [("v1", "Pod")],
            labels.RUN_HASH,
            self._on_watch,
            keep=pod_essentials,
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
        self._busy = threading.Lock()
        self._pins: dict[SpecOwner, set[str]] = {}
        # Replaced by the leader elector's check when replicas elect one writer.
        self.may_write: Callable[[], bool] = lambda: True
        self.book = StatusBook(status, self.metrics, lambda: self.may_write())

    # ------------------------------------------------------------------ events

    def _on_watch(self, event: WatchEvent) -> None:
        if event.owner is not None and self.ready.is_set():
            self.queue.put(Trigger("watch", event.owner))

    def trigger(self, reason: str) -> None:
        self.queue.put(Trigger(reason))

    def start(self) -> None:
        """Prime the caches and read the status branch: what the first reconcile starts from."""
        self.cache.start()
        self.pods.start()
        self.book.load()
        self.ready.set()

    def stop(self) -> None:
        self.stopping.set()
        self.cache.stop()
        self.pods.stop()

    def run_forever(self) -> None:
        self.queue.put(Trigger("start"))
        while not self.stopping.is_set():
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
        """No reconcile running and none queued: what a caller waits for before it looks."""
        if not self._busy.acquire(blocking=False):
            return False
        try:
            return self.queue.empty()
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
            try:
                first = self.queue.get(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                continue
            self.reconcile(self._drain(first))
        return True

    def settled(self) -> bool:
        state = self.state
        if state.head is None and state.source_error is None:
            return False
        statuses = self.book.statuses
        unsettled = {key for key, status in statuses.items() if status.phase in UNSETTLED}
        for key in unsettled:
            status = statuses[key]
            if key.kind != "ModelDeployment" or status.phase is StatusPhase.PROGRESSING:
                return False
            # A serving spec waiting for a gate is settled once what it waits for has finished.
            sources = _sources_of(state.specs.get(key))
            if any(
                statuses.get(SpecKey(*source)) is None
                or statuses[SpecKey(*source)].phase in UNSETTLED
                for source in sources
            ):
                return False
        return not self.book.pending

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, triggers: Iterable[Trigger]) -> None:
        if not self.may_write():
            self.stopping.set()
            return
        started = time.perf_counter()
        triggers = list(triggers)
        structlog.contextvars.clear_contextvars()
        dirty: set[SpecKey] = set()
        reasons = {t.reason for t in triggers}
        # A push or webhook is news: fetch at once. A timer only fetches once any backoff
        # from earlier failures has run out.
        news = bool(reasons & {"start", "commit", "webhook"})
        if news or (reasons & {"poll", "resync"} and time.monotonic() >= self.state.retry_at):
            dirty |= self._sync_source()
        for trigger in triggers:
            if trigger.owner is not None:
                dirty.add(SpecKey(*trigger.owner))
                dirty |= self.state.dependents.get(trigger.owner, set())
        if reasons & {"start", "resync"}:
            dirty |= self._all_keys()
        # A serving spec's gate shows up in its sources' status too: revisit them together.
        for key in list(dirty):
            dirty |= {SpecKey(*source) for source in _sources_of(self.state.specs.get(key))}
        if self.state.head is not None:
            structlog.contextvars.bind_contextvars(commit=self.state.head[:12])
            self._converge(dirty)
        self.reconciles += 1
        self.metrics.reconcile_seconds.observe(time.perf_counter() - started)

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
            delay = min(self.options.max_fetch_backoff, 2.0**state.fetch_failures)
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
                changes.extend(plan([], self.cache.owned_by(owner)).changes)
                continue
            inputs = self._inputs(key, loaded, origin)
            if previous == inputs:
                state.settled_inputs[key] = inputs
                unchanged.add(key)
                continue
            live = self.cache.owned_by(owner)
            planned = len(changes)
            try:
                desired = desired_state(loaded, origin, live, runs_of, self._pinned(owner))
            except (ReconcilerError, ValueError, KeyError) as exc:
                log.error("render_failed", spec=str(key), reason=str(exc))
                outcomes[key] = Outcome(key, origin, "RenderFailed", str(exc))
                continue
            self._record_pins(key, desired)
            outcomes[key] = self._plan_spec(key, origin, desired, live, changes)
            if outcomes[key].stage_reason is None and len(changes) == planned:
                clean[key] = inputs
        changeset, guard = guard_prunes(
            ChangeSet(tuple(changes)),
            managed_total=len(self.cache),
            max_fraction=self.options.max_prune_fraction,
            load_failed=state.load_failed,
            failed_files=state.load.failed_files,
        )
        state.guard = (
            PruneGuard(held=guard.held, reason=f"{guard.reason}; {guard.override}")
            if guard
            else None
        )
        self.metrics.prune_guard.set(1 if guard is not None and guard.held else 0)
        failures = self._write(changeset)
        self._report(dirty - unchanged, outcomes, failures)
        for key, inputs in clean.items():
            if tuple(key) not in failures:
                state.settled_inputs[key] = inputs

    def _inputs(self, key: SpecKey, loaded: LoadedSpec, origin: str) -> tuple[Any, ...]:
        """What render, plan and status of ``key`` read: the spec, where it came from, the
        resourceVersions of its objects and of the runs it may serve, pins and gate notes."""
        owner = tuple(key)
        versions = self.cache.versions(owner) + self.pods.versions(owner)
        for source in _sources_of(loaded):
            versions += self.cache.versions(source) + self.pods.versions(source)
        notes = self.state.gate_notes.get(owner, {})
        return (
            self.state.hashes.get(key),
            loaded.file,
            origin,
            tuple(versions),
            frozenset(self._pinned(owner)),
            tuple((run, tuple(sorted(why.items()))) for run, why in sorted(notes.items())),
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
        changeset = plan(desired.objects, live, retain=desired.retain)
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

    def _write(self, changeset: ChangeSet) -> dict[SpecOwner, str]:
        """Apply and prune; the first error per spec."""
        failures: dict[SpecOwner, str] = {}
        to_apply = [c for c in changeset.changes if c.action in (Action.CREATE, Action.UPDATE)]
        to_prune = [c for c in changeset.changes if c.action is Action.PRUNE]
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
                        failures.setdefault(change.spec, error)
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
                failures.setdefault(owner, result.error or "apply failed")
        if not self.may_write():
            return failures
        prune_owner = {c.ref: c.spec for c in to_prune}
        for result in self.writer.delete([c.ref for c in to_prune]):
            self.metrics.writes.labels("delete", "ok" if result.ok else "error").inc()
            owner = prune_owner.get(result.ref)
            if not result.ok and owner is not None:
                failures.setdefault(owner, result.error or "delete failed")
        return failures

    # ------------------------------------------------------------------ status

    def _report(
        self, dirty: set[SpecKey], outcomes: dict[SpecKey, Outcome], failures: dict[SpecOwner, str]
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
                status = invalid(origin, state.load.invalid[key], now)
            elif outcome is None:
                status = None
                if self.cache.versions(tuple(key)):
                    continue  # removal held by the guard: keep the last status
            else:
                error = failures.get(tuple(key))
                if error is not None and outcome.stage_reason is None:
                    outcome = Outcome(
                        key, outcome.source_commit, "ApplyFailed", error, extra=outcome.extra
                    )
                # Health reads the objects as they are after apply.
                outcome = replace(outcome, objects=self.cache.owned_by(tuple(key)))
                status = assemble(self._with_gate_notes(outcome), now)
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
        self.book.flush(changes, state.head, repository)

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


def _sources_of(loaded: LoadedSpec | None) -> list[SpecOwner]:
    if loaded is None or not isinstance(loaded.spec, ModelDeployment):
        return []
    namespace = loaded.key.namespace
    models: list[ModelSource] = [loaded.spec.spec.model]
    if loaded.spec.spec.canary is not None:
        models.append(loaded.spec.spec.canary.model)
    owners: list[SpecOwner] = []
    for model in models:
        if model.from_training is not None:
            owners.append(("TrainingJob", namespace, model.from_training.name))
        elif model.from_pipeline is not None:
            owners.append(("Pipeline", namespace, model.from_pipeline.name))
    return owners


def _dependents(specs: Iterable[LoadedSpec]) -> dict[SpecOwner, set[SpecKey]]:
    """Which serving specs to revisit when a training spec's runs change."""
    dependents: dict[SpecOwner, set[SpecKey]] = {}
    for loaded in specs:
        for source in _sources_of(loaded):
            dependents.setdefault(source, set()).add(loaded.key)
    return dependents
