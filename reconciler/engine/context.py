"""What one reconcile works on (``Cycle``, frozen) and what specs carry from one to the next.

Each stage reads the cycle and returns what it decided; nothing in a ``Cycle`` changes once the
load stage has made it. What must outlive a reconcile lives with the stage that owns it: the
source in ``load.Loader``, pins and gate notes in ``reconciler.promotion``, the prune guard in
``reconciler.guard``, and the per-spec notes below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from reconciler.plan import ChangeSet
from reconciler.reasons import Reason
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.status.assemble import Outcome


@dataclass(frozen=True)
class Cycle:
    """What this reconcile read: the commit in force, its specs, when, and what to revisit."""

    head: str
    load: LoadResult
    load_failed: bool
    specs: Mapping[SpecKey, LoadedSpec]
    hashes: Mapping[SpecKey, str]
    origins: Mapping[SpecKey, str]
    dirty: frozenset[SpecKey]
    now: datetime

    def origin(self, key: SpecKey) -> str:
        """The commit at which ``key``'s current content first appeared."""
        return self.origins.get(key, self.head)


class Failure(NamedTuple):
    """Why a spec's writes failed: the stage reason and message."""

    reason: Reason
    message: str


Failures = dict[SpecKey, Failure]  # the first failure per spec


@dataclass(frozen=True)
class Planned:
    """What the desired and plan stages decided for the dirty specs."""

    outcomes: Mapping[SpecKey, Outcome]
    changeset: ChangeSet
    unchanged: frozenset[SpecKey]  # read the same inputs as when last settled: not reported
    skipped: frozenset[SpecKey]  # a bug stopped their planning: their status stays as it was
    # Specs planned with nothing to write, and the inputs they read: skipped next time unless
    # these change or a write of theirs failed.
    clean: Mapping[SpecKey, tuple[Any, ...]]


@dataclass
class SpecNotes:
    """Per-spec facts reported until the spec itself changes, so a status file records the
    event instead of flickering for one reconcile; and the inputs of specs that settled."""

    settled: dict[SpecKey, tuple[Any, ...]] = field(default_factory=dict)
    drift: dict[SpecKey, tuple[str, ...]] = field(default_factory=dict)  # reverted changes
    # Existing objects a spec adopted (spec.adopt), with the origin they were adopted at.
    adopted: dict[SpecKey, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def changed(self, keys: set[SpecKey]) -> None:
        for key in keys:
            self.drift.pop(key, None)

    def adopt(self, key: SpecKey, origin: str, note: str) -> None:
        since, notes = self.adopted.get(key, (origin, ()))
        notes = notes if since == origin else ()
        self.adopted[key] = (origin, (*notes, note))

    def adoptions(self, key: SpecKey, origin: str | None) -> tuple[str, ...]:
        since, notes = self.adopted.get(key, ("", ()))
        return notes if since == origin else ()
