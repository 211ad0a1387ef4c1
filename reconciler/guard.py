"""The prune guard: which prunes wait, why, and what releases them.

No client, no clock: ``Guard`` is the one place that withholds deletions; the engine asks it
once per reconcile (``withhold`` after planning, ``release`` once the applies are done) and writes
what it says (``status``) to ``repository.yaml``. Prunes are withheld when:

- the commit's specs failed to load as a whole (every prune), or a file failed to load (the
  objects its specs declared: a broken file must not read as the removal of what it declared);
- a new branch head removes more than ``max_fraction`` of what this installation owned before
  the first held commit (the inventory; objects a held commit created never dilute it), or does
  not descend from the last head reconciled (a force-push that rewound or replaced history);
- what replaces the removed objects has not applied yet, or (serving) is not Ready yet.

A head is judged once, when it first arrives; the verdict is kept (in ``repository.yaml``, read
back at start with ``restore``), so watch events, resyncs and restarts at the same head never
judge it again. A held commit stays held until a new head is judged within the limit or the
operator names the held commit with ``--allow-prune``. Held or not, applies go on: only
deletions wait.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from decimal import Decimal

import structlog

from reconciler import labels
from reconciler.plan import Change, ChangeSet
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import PruneGuard, RepositoryStatus

log = structlog.get_logger(__name__)


class Guard:
    """What withholds prunes between reconciles; only the worker thread touches it."""

    def __init__(self, max_fraction: float, allow_prune: str | None = None) -> None:
        self.max_fraction = max_fraction
        self.allow_prune = allow_prune  # the operator releases the hold at this commit
        self.restored = False
        self.judged: str | None = None  # the last head whose prunes were judged
        self.hold: PruneGuard | None = None  # held until a new head or the operator releases it
        self.override: PruneGuard | None = None  # the operator released the hold at this head
        self.withheld: tuple[PruneGuard, ...] = ()  # why prunes were withheld this reconcile
        # Specs whose prunes were withheld or wait: planned again every reconcile until done.
        self.deferred: set[SpecKey] = set()
        # Specs a commit created or changed: prunes wait until they applied and are Ready.
        self.replacements: set[SpecKey] = set()
        self.status: PruneGuard | None = None  # what repository.yaml says

    @property
    def held(self) -> bool:
        return self.status is not None and self.status.held

    def restore(self, last: RepositoryStatus | None) -> None:
        """Start from the last head judged, and a guard that held, as repository.yaml says."""
        self.restored = True
        if last is None:
            return
        self.judged = last.source_commit or None
        held = last.prune_guard
        if held is None:
            return
        self.status = held
        if held.held and held.commit:
            self.hold = held
            log.info("prune_guard_restored", held_commit=held.commit[:12])
        self.replacements = {SpecKey(*key.split("/", 2)) for key in held.waiting_for}

    def revisit(self) -> set[SpecKey]:
        """Specs to plan again whatever changed: withheld prunes wait on these to be done, and
        the first reconcile that finds them releasable (a watch event, a resync) makes them."""
        return self.deferred | self.replacements if self.deferred else set()

    def withhold(
        self,
        changeset: ChangeSet,
        *,
        head: str,
        load_failed: bool,
        failed_files: Collection[str],
        new_specs: Iterable[SpecKey],
        owned_before: Callable[[], int],
        descends: Callable[[str, str], bool],
    ) -> ChangeSet:
        """``changeset`` without the prunes a broken, sweeping or rewritten commit would cause.

        ``new_specs`` are the specs whose content first appeared at ``head``; ``owned_before``
        counts the inventory and ``descends(head, previous)`` tells whether history followed,
        both asked only when a new head with prunes is judged.
        """
        kept, unloaded = unloaded_prunes(
            changeset, load_failed=load_failed, failed_files=failed_files
        )
        withheld: list[PruneGuard] = []
        if unloaded is not None:
            withheld.append(unloaded)
            self.deferred |= {change.spec for change in kept if change.spec is not None}
            changeset = changeset.withholding([change.ref for change in kept])
        if head != self.judged and not load_failed:
            self._judge(changeset, head, set(new_specs), owned_before, descends)
        if self.hold is not None and overridden(self.hold, self.allow_prune):
            log.warning("prune_guard_overridden", held_commit=self.hold.commit[:12])
            self.override = released(self.hold)
            self.hold = None
        if self.hold is not None:
            withheld.append(self.hold)
            self.deferred |= {c.spec for c in changeset.prunes if c.spec is not None}
            changeset = changeset.withholding([change.ref for change in changeset.prunes])
        elif self.override is not None:
            withheld.append(self.override)
        self.withheld = tuple(withheld)
        return changeset

    def _judge(
        self,
        changeset: ChangeSet,
        head: str,
        new_specs: set[SpecKey],
        owned_before: Callable[[], int],
        descends: Callable[[str, str], bool],
    ) -> None:
        previous, self.judged = self.judged, head
        self.override = None
        # What replaced removed objects must serve before they go; a new commit starts a new
        # list unless older prunes still wait on theirs.
        if not (self.status is not None and self.status.waiting_for):
            self.replacements = set()
        self.replacements |= new_specs
        prunes = len(changeset.prunes)
        if not prunes:
            self.hold = None
            return
        before = self.hold.owned_before if self.hold else owned_before()
        rewritten = previous if previous and not descends(head, previous) else None
        self.hold = judge(
            head,
            prunes=prunes,
            owned_before=before,
            max_fraction=self.max_fraction,
            rewritten_from=rewritten,
        )
        if self.hold is not None:
            log.warning("prune_guard_held", reason=self.hold.reason)

    def keep_waiting(self, still_waiting: Iterable[SpecKey]) -> list[SpecKey]:
        """Narrow the replacements to those still not applied or not Ready; sorted."""
        self.replacements = set(still_waiting)
        return sorted(self.replacements)

    def release(self, prunes: list[Change], waiting: Iterable[SpecKey]) -> list[Change]:
        """The prunes that may go now: none while a replacement in ``waiting`` is not done."""
        wait = waiting_for(str(key) for key in waiting)
        if wait is not None:
            self.deferred |= {change.spec for change in prunes if change.spec is not None}
            prunes = []
        elif not self.withheld:
            self.deferred = set()
        self.status = combined([*self.withheld, wait])
        return prunes


def unloaded_prunes(
    changeset: ChangeSet, *, load_failed: bool, failed_files: Collection[str]
) -> tuple[tuple[Change, ...], PruneGuard | None]:
    """The prunes the state of the repository makes unsafe, and why (None when there are none).

    Every prune when the commit's specs failed to load as a whole (held); otherwise those of
    objects whose ``mlops/source-path`` names a file in ``failed_files`` (kept, not held: the
    other prunes go ahead).
    """
    prunes = changeset.prunes
    if not prunes:
        return (), None
    if load_failed:
        reason = f"the specs at this commit did not load; holding all {len(prunes)} prunes"
        hint = "fix the spec repository; pruning resumes at the first commit that loads"
        return prunes, PruneGuard(held=True, reason=f"{reason}; {hint}")
    kept = tuple(change for change in prunes if _source_path(change) in failed_files)
    if not kept:
        return (), None
    files = sorted({_source_path(change) or "" for change in kept})
    reason = (
        f"kept {len(kept)} object{'s' if len(kept) != 1 else ''} "
        f"whose spec files did not load: {', '.join(files)}"
    )
    hint = "fix those files; their objects are pruned only once the files load"
    return kept, PruneGuard(held=False, reason=f"{reason}; {hint}")


def judge(
    head: str,
    *,
    prunes: int,
    owned_before: int,
    max_fraction: float,
    rewritten_from: str | None = None,
) -> PruneGuard | None:
    """The hold for a new branch head, or None when its ``prunes`` may go ahead.

    ``owned_before`` is what was owned before the first held commit (or before ``head`` when
    none is held); ``rewritten_from`` is the last head reconciled when ``head`` does not descend
    from it. Exactly ``max_fraction`` is allowed.
    """
    if not 0 <= max_fraction <= 1:
        raise ValueError(f"max_fraction must be between 0 and 1, not {max_fraction}")
    if prunes == 0:
        return None
    total = max(owned_before, prunes)
    if Decimal(prunes) > Decimal(str(max_fraction)) * total:
        reason = (
            f"this commit would delete {prunes} of {total} managed objects "
            f"({_percent(prunes / total)} > {_percent(max_fraction)})"
        )
    elif rewritten_from is not None:
        reason = (
            f"history rewritten: {head[:7]} does not descend from {rewritten_from[:7]}, the last "
            f"commit reconciled; holding all {prunes} prunes"
        )
    else:
        return None
    return PruneGuard(
        held=True,
        reason=f"{reason}; {release_hint(head)}",
        commit=head,
        owned_before=owned_before,
    )


def release_hint(head: str) -> str:
    return (
        "held until a new commit restores the specs or removes at most --max-prune-fraction of "
        f"them, or the operator sets --allow-prune {head[:12]}"
    )


def overridden(hold: PruneGuard, allow_prune: str | None) -> bool:
    """True when the operator's ``--allow-prune`` names the held commit."""
    return bool(allow_prune) and bool(hold.commit) and hold.commit.startswith(str(allow_prune))


def released(hold: PruneGuard) -> PruneGuard:
    """What repository.yaml says once the operator released ``hold``."""
    return PruneGuard(
        held=False,
        reason=f"released by --allow-prune {hold.commit[:12]}: {hold.reason.split('; ')[0]}",
        override=True,
        commit=hold.commit,
        owned_before=hold.owned_before,
    )


def waiting_for(keys: Iterable[str]) -> PruneGuard | None:
    """Prunes wait (not held) for specs whose new objects have not applied or become ready."""
    names = tuple(sorted(keys))
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    return PruneGuard(
        held=False,
        reason=f"waiting for replacements to become ready: {shown}",
        waiting_for=names,
    )


def combined(guards: Iterable[PruneGuard | None]) -> PruneGuard | None:
    """One guard for repository.yaml out of every reason prunes were withheld this reconcile."""
    present = [guard for guard in guards if guard is not None]
    if not present:
        return None
    with_commit = next((guard for guard in present if guard.commit), None)
    return PruneGuard(
        held=any(guard.held for guard in present),
        reason="; ".join(guard.reason for guard in present if guard.reason),
        override=any(guard.override for guard in present),
        commit=with_commit.commit if with_commit else "",
        owned_before=with_commit.owned_before if with_commit else 0,
        waiting_for=tuple(key for guard in present for key in guard.waiting_for),
    )


def _source_path(change: Change) -> str | None:
    if change.live is None:
        return None
    return ((change.live.get("metadata") or {}).get("annotations") or {}).get(labels.SOURCE_PATH)


def _percent(fraction: float) -> str:
    value = round(fraction * 100, 1)
    return f"{value:g}%"
