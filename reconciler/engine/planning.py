"""Stage plan: one spec's desired objects against its live ones, as changes and an outcome.

Every object planned carries this installation's identity (``stamp``). A live object that is no
longer desired is pruned only when the spec's inventory (its status file's resources) records
applying it; a kind the cluster does not serve stops the spec (NotInstalled) before any write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.desired import Desired
from reconciler.errors import NotServed
from reconciler.inventory import Inventory, ObjectRef, is_owned, stamp
from reconciler.plan import Action, Change, plan
from reconciler.reasons import Reason
from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome
from reconciler.status.book import StatusBook

from .context import Cycle, SpecNotes
from .ports import Cluster, Objects


class Planner:
    def __init__(self, instance: str, cluster: Cluster, book: StatusBook, notes: SpecNotes):
        self.instance = instance  # this installation's identity: what it owns
        self.cluster = cluster
        self.book = book
        self.notes = notes

    def owned(self, key: SpecKey) -> list[dict[str, Any]]:
        """The objects of a spec that this installation owns (their tracking id is ours)."""
        return owned(self.cluster.objects, key, self.instance)

    def plan_spec(
        self, cycle: Cycle, key: SpecKey, desired: Desired, live: list[dict[str, Any]]
    ) -> tuple[Outcome, list[Change]]:
        """The outcome of ``key`` and the changes that act (creates, updates, prunes)."""
        origin = cycle.origin(key)
        extra = {**desired.extra, "specHash": cycle.hashes[key]}
        if desired.objects is None:
            return Outcome(key, origin, waiting=desired.waiting, extra=extra), []
        missing = self._not_served(desired.objects)
        if missing is not None:
            message = str(NotServed(missing["apiVersion"], missing["kind"]))
            return Outcome(key, origin, Reason.NOT_INSTALLED, message, extra=extra), []
        objects = [stamp(obj, self.instance) for obj in desired.objects]
        changeset = plan(
            objects, live, inventory=self.inventory(key, objects, live), retain=desired.retain
        )
        drift = tuple(
            f"{change.ref.kind}/{change.ref.name}: {change.reason}"
            for change in changeset.updates
            if change.reason.startswith("drifted")
        )
        if drift:
            self.notes.drift[key] = drift
        current = frozenset(obj["metadata"]["name"] for obj in desired.objects)
        outcome = Outcome(
            key,
            origin,
            current=current,
            extra=extra,
            drift_reverted=self.notes.drift.get(key, ()),
        )
        # Only what acts is held until the writes: a resync of thousands of specs would
        # otherwise keep every spec's desired and live objects at once.
        return outcome, [c for c in changeset if c.action not in (Action.NOOP, Action.KEEP)]

    def plan_removed(self, key: SpecKey) -> list[Change]:
        """A spec gone from Git: prune what its inventory records."""
        live = self.owned(key)
        return list(plan([], live, inventory=self.inventory(key, [], live)).changes)

    def _not_served(self, objects: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The object of the first kind (by name) the cluster does not serve, if any."""
        missing = sorted(
            {
                f"{obj['apiVersion']} {obj['kind']}"
                for obj in objects
                if not self.cluster.kinds.served(obj["apiVersion"], obj["kind"])
            }
        )
        if not missing:
            return None
        found = objects[0]
        for obj in objects:
            if f"{obj['apiVersion']} {obj['kind']}" == missing[0]:
                found = obj
        return found

    def inventory(
        self, key: SpecKey, desired: Iterable[dict[str, Any]], live: list[dict[str, Any]]
    ) -> Inventory:
        """What ``key`` recorded applying; read only when some live object is not desired."""
        wanted = {ObjectRef.from_object(obj).key for obj in desired}
        if all(ObjectRef.from_object(obj).key in wanted for obj in live):
            return Inventory(self.instance)
        return self.recorded(key)

    def recorded(self, key: SpecKey) -> Inventory:
        """The inventory of ``key``: its status file's resources, as last written."""
        status = self.book.previous(key)
        refs = status.resources if status is not None else ()
        return Inventory.of(
            self.instance,
            ((ObjectRef(r.api_version, r.kind, r.namespace, r.name), r.uid) for r in refs),
        )


def owned(objects: Objects, key: SpecKey, instance: str) -> list[dict[str, Any]]:
    return [o for o in objects.owned_by(key) if is_owned(o, instance)]
