"""Stage desired: what should exist for one dirty spec, from its spec, its runs and the pins.

A spec whose inputs (``inputs``) are those it last settled with is skipped: the same inputs give
the same plan and status, so a resync of thousands of quiet specs renders none of them.
"""

from __future__ import annotations

from typing import Any

from reconciler.delivery.runner import Delivery
from reconciler.desired import Desired, desired_state, sources_of
from reconciler.lifecycle import Run, runs_from
from reconciler.promotion import Promotions
from reconciler.specs.loaded import LoadedSpec, SpecKey
from reconciler.status.book import StatusBook

from .context import Cycle
from .ports import Cluster


class Runs:
    """The runs of each training or pipeline spec, read from the caches once per reconcile,
    and the resourceVersions they were read at.

    A spec's inputs name the versions of what its plan read, not what the cache holds a moment
    later: runs read for a training spec serve the serving specs planned after it, and a Job
    that finished in between must leave their inputs unlike the ones recorded, or the event
    that told of it would find them settled and nothing would be planned again.
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._versions: dict[SpecKey, list[str | None]] = {}
        self._memo: dict[SpecKey, list[Run]] = {}

    def __call__(self, kind: str, namespace: str, name: str) -> list[Run]:
        owner = SpecKey(kind, namespace, name)
        if owner not in self._memo:
            self.versions(owner)  # taken first: what is read below is at least this new
            objects = self._cluster.objects.owned_by(owner)
            self._memo[owner] = runs_from(objects, self._cluster.pods.owned_by(owner))
        return self._memo[owner]

    def versions(self, owner: SpecKey) -> list[str | None]:
        """The versions of ``owner``'s objects and pods as this reconcile first saw them."""
        if owner not in self._versions:
            cluster = self._cluster
            self._versions[owner] = cluster.objects.versions(owner) + cluster.pods.versions(owner)
        return self._versions[owner]


def inputs(
    cycle: Cycle,
    key: SpecKey,
    loaded: LoadedSpec,
    runs: Runs,
    promotions: Promotions,
    delivery: Delivery,
) -> tuple[Any, ...]:
    """What render, plan and status of ``key`` read: the spec, where it came from, the
    resourceVersions of its objects and of the runs it may serve, pins and gate notes, and
    the wake-ups of its canary analysis."""
    versions = list(runs.versions(key))
    for source in sources_of(loaded):
        versions += runs.versions(source)
    notes = promotions.notes(key)
    return (
        cycle.hashes.get(key),
        loaded.file,
        cycle.origin(key),
        tuple(versions),
        frozenset(promotions.pinned(key)),
        tuple((run, tuple(sorted(why.items()))) for run, why in sorted(notes.items())),
        delivery.inputs(key),
    )


def desire(
    cycle: Cycle,
    key: SpecKey,
    loaded: LoadedSpec,
    live: list[dict[str, Any]],
    runs: Runs,
    promotions: Promotions,
    delivery: Delivery,
    book: StatusBook,
) -> Desired:
    """The objects ``key`` wants now, at the canary traffic its analysis has reached; what it
    serves and passed over is recorded for the specs planned after it. Raises ReconcilerError
    when the spec cannot be rendered."""
    traffic = delivery.step(loaded, book.previous(key), live)
    pinned = promotions.pinned(key)
    desired = desired_state(loaded, cycle.origin(key), live, runs, pinned, traffic)
    desired = delivery.report(key, desired)
    promotions.record(key, desired.served_runs, desired.rejections)
    return desired
