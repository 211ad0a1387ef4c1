"""The prune guard between reconciles: which commit's prunes are held, and what releases them.

Pure: no client, no clock. A branch head's prunes are judged once, when that head first arrives;
the verdict is kept (in ``repository.yaml`` on the status branch, read back at start), so watch
events, resyncs and restarts at the same head never judge it again. A held commit stays held
until a new head is judged within the limit (it restores the specs, or removes less) or the
operator names the held commit with ``--allow-prune``.

- The share removed is measured against what this installation owned before the first held
  commit (the inventory): objects a held commit created never dilute it.
- A head that does not descend from the last head reconciled (a force-push that rewound or
  replaced history, a switch to an unrelated branch) is held the same way.
- Held or not, applies go on: only deletions wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from reconciler.status.model import PruneGuard


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


def waiting(keys: Iterable[str]) -> PruneGuard | None:
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


def _percent(fraction: float) -> str:
    value = round(fraction * 100, 1)
    return f"{value:g}%"
