"""Stage load: fetch the branch, check the tip's signature, load its specs, track content origins.

Only the files a commit changed are parsed again (the parse cache hands back the same spec object
for an unchanged document), and only new content is hashed. A tip that fails verification, or
whose ``reconciler.yaml`` does not validate, is never loaded: the last good commit stays in force
(fail closed), and the reason reaches repository.yaml and /readyz.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pygit2
import structlog

from reconciler import backoff, labels
from reconciler.desired import sources_of
from reconciler.errors import ReconcilerError, SourceError
from reconciler.metrics import Metrics
from reconciler.render.identity import spec_hash
from reconciler.source.verify import CommitVerifier
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.specs.loader import ParseCache, load_commit
from reconciler.specs.models import TenancyLimits
from reconciler.status.book import StatusBook

from .ports import Objects, Source

log = structlog.get_logger(__name__)


@dataclass
class SourceState:
    """The commit in force and what the source last said; read by /readyz and ``run --once``."""

    head: str | None = None
    load: LoadResult | None = None
    load_failed: bool = False  # the specs at the tip did not load as a whole
    specs: dict[SpecKey, LoadedSpec] = field(default_factory=dict)
    hashes: dict[SpecKey, str] = field(default_factory=dict)
    origins: dict[SpecKey, str] = field(default_factory=dict)  # first commit with this content
    dependents: dict[SpecKey, set[SpecKey]] = field(default_factory=dict)
    source_error: str | None = None
    # Why the tip's reconciler.yaml is not used: the last good commit stays in force, or
    # nothing is applied when there is none.
    config_error: str | None = None


@dataclass(frozen=True)
class Synced:
    changed: set[SpecKey] = field(default_factory=set)  # specs whose content changed
    # A tip refused for its reconciler.yaml while no commit was ever in force: nothing else
    # reports, so repository.yaml must say why now.
    refused: tuple[str, LoadResult] | None = None


class Loader:
    def __init__(
        self,
        source: Source,
        verifier: CommitVerifier | None,
        limits: TenancyLimits | None,
        max_backoff: float,
        metrics: Metrics,
        objects: Objects,
        book: StatusBook,
    ) -> None:
        self.source = source
        self.verifier = verifier
        self.limits = limits
        self.max_backoff = max_backoff  # seconds; a failing remote is retried at most this rarely
        self.metrics = metrics
        self.objects = objects
        self.book = book
        self.state = SourceState()
        self.parse_cache = ParseCache()
        self.rejected: tuple[str, str] | None = None  # (tip, why) of a tip that failed to verify
        self.failures = 0  # fetches failed in a row
        self.retry_at = 0.0  # monotonic time before which timers do not fetch again

    def due(self, reasons: set[str], now: float) -> bool:
        """A push or webhook is news: fetch at once. A timer only fetches once any backoff
        from earlier failures has run out."""
        news = bool(reasons & {"start", "commit", "webhook"})
        timer = bool(reasons & {"poll", "resync", "retry"})
        return news or (timer and now >= self.retry_at)

    def sync(self, now: float) -> Synced:
        state = self.state
        try:
            head = str(self.source.fetch())
        except SourceError as exc:
            self._fetch_failed(exc, now)
            return Synced()
        state.source_error = None
        self.failures, self.retry_at = 0, 0.0
        if head == state.head:
            state.config_error = None  # the tip is back at the commit in force
            return Synced()
        structlog.contextvars.bind_contextvars(commit=head[:12])
        rejection = self._verify(head)
        if rejection is not None:
            state.source_error = rejection
            return Synced()
        try:
            result = load_commit(self.source.repo, head, self.parse_cache, limits=self.limits)
        except ReconcilerError as exc:
            log.error("load_failed", reason=str(exc))
            state.load_failed = True
            state.source_error = f"specs at {head[:7]} did not load: {exc}"
            return Synced()
        if result.config_problems:
            # Without its reconciler.yaml a commit's limits, default namespace and ignores are
            # unknown, so nothing of it is applied and nothing is pruned for it.
            state.config_error = _config_error(head, state.head, result)
            log.error("config_invalid", reason=state.config_error)
            return Synced(refused=(head, result) if state.head is None else None)
        state.config_error = None
        state.load_failed = False
        return Synced(changed=self._take(head, result))

    def _fetch_failed(self, exc: SourceError, now: float) -> None:
        state = self.state
        self.failures += 1
        delay = backoff.delay(self.failures, base=2.0, cap=self.max_backoff, jitter=False)
        self.retry_at = now + delay
        if state.source_error != str(exc):
            log.warning("source_failed", reason=str(exc), retry_in=delay)
        state.source_error = str(exc)
        self.metrics.git_errors.labels("fetch").inc()

    def _take(self, head: str, result: LoadResult) -> set[SpecKey]:
        """Make ``head`` the commit in force; the specs whose content changed."""
        state = self.state
        new_specs = {loaded.key: loaded for loaded in result.specs}
        new_hashes: dict[SpecKey, str] = {}
        changed = state.specs.keys() - new_specs.keys()
        # One pass: an unchanged file's spec is the same object, so only new content is hashed.
        for key, loaded in new_specs.items():
            old = state.specs.get(key)
            if old is not None and old.spec is loaded.spec:
                new_hashes[key] = state.hashes[key]
                continue
            new_hashes[key] = content = spec_hash(loaded.spec)
            if content != state.hashes.get(key):
                changed.add(key)
        old_invalid = set(state.load.invalid) if state.load else set()
        changed |= old_invalid ^ set(result.invalid)
        changed |= set(result.invalid)
        for key in changed:
            if key in new_specs:
                state.origins[key] = self._origin(key, new_hashes[key], head)
            else:
                state.origins.pop(key, None)
        for key in result.invalid:
            state.origins.setdefault(key, head)
        _follow_dependents(state.dependents, state.specs, new_specs, changed)
        state.head, state.load, state.specs, state.hashes = head, result, new_specs, new_hashes
        self.metrics.source.info({"commit": head})
        log.info("source_loaded", specs=len(new_specs), problems=len(result.problems))
        return changed

    def _verify(self, head: str) -> str | None:
        """None when ``head`` may be applied, else why not; a refused tip is checked once."""
        if self.verifier is None:
            return None
        if self.rejected is not None and self.rejected[0] == head:
            return self.rejected[1]
        result = self.verifier.verify(self.source.repo, head)
        if result.ok:
            self.rejected = None
            log.info("source_verified", signer=result.signer, reason=result.reason)
            return None
        reason = f"tip {head[:7]} not applied: {result.reason}"
        log.warning("source_unverified", reason=result.reason)
        self.metrics.git_errors.labels("verify").inc()
        self.rejected = (head, reason)
        return reason

    def _origin(self, key: SpecKey, content_hash: str, head: str) -> str:
        """The commit where this content first appeared: kept across restarts by the objects
        (their annotations) and the status branch."""
        state = self.state
        if state.hashes.get(key) == content_hash and key in state.origins:
            return state.origins[key]
        for obj in self.objects.owned_by(key):
            annotations = obj.get("metadata", {}).get("annotations") or {}
            if annotations.get(labels.SPEC_HASH) == content_hash:
                return annotations.get(labels.SOURCE_COMMIT) or head
        status = self.book.previous(key)
        if status is not None and status.extra.get("specHash") == content_hash:
            return status.observed_commit
        return head

    def descends(self, head: str, previous: str) -> bool:
        """False when ``head`` rewrote or replaced the history that led to ``previous``."""
        try:
            return bool(self.source.repo.descendant_of(head, previous))
        except (KeyError, ValueError, pygit2.GitError):
            return False  # the old head is gone from the clone: its history was replaced


def _config_error(head: str, in_force: str | None, result: LoadResult) -> str:
    """One line for repository.yaml and /readyz: which commit, what stays, the first problems."""
    problems = result.config_problems
    listed = "; ".join(str(problem) for problem in problems[:3])
    if len(problems) > 3:
        listed += f" (+{len(problems) - 3} more)"
    kept = f"{in_force[:7]} stays in force" if in_force else "nothing is applied"
    return f"reconciler.yaml at {head[:7]} is invalid, {kept}: {listed}"


def _follow_dependents(
    dependents: dict[SpecKey, set[SpecKey]],
    old: Mapping[SpecKey, LoadedSpec],
    new: Mapping[SpecKey, LoadedSpec],
    changed: Iterable[SpecKey],
) -> None:
    """Keep ``dependents`` (which serving specs to revisit when a training spec's runs change)
    up to date with the specs whose content changed: only they can name other sources."""
    for key in changed:
        for source in sources_of(old.get(key)):
            serving = dependents.get(source)
            if serving is not None:
                serving.discard(key)
                if not serving:
                    del dependents[source]
        for source in sources_of(new.get(key)):
            dependents.setdefault(source, set()).add(key)
