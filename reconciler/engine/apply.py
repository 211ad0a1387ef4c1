"""Stage apply: create and update in rank order, after looking before each create.

An object already at the address of a create is written to only when it is ours (its tracking
id, or our record of applying it) or its spec opts in to adopt it (``spec.adopt``); otherwise the
spec writes nothing (NotOwned). Namespaces are created first and never pruned.
"""

from __future__ import annotations

from typing import Any

import structlog

from reconciler import labels
from reconciler.inventory import ObjectRef, is_owned, managers
from reconciler.metrics import Metrics
from reconciler.plan import Action, Change, ChangeSet
from reconciler.reasons import Reason

from .clock import Clock, rfc3339_micro
from .context import Cycle, Failure, Failures, SpecNotes
from .planning import Planner
from .ports import Cluster

log = structlog.get_logger(__name__)


class Applier:
    def __init__(
        self,
        instance: str,
        cluster: Cluster,
        planner: Planner,
        notes: SpecNotes,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.instance = instance
        self.clock = clock
        self.cluster = cluster
        self.planner = planner
        self.notes = notes
        self.metrics = metrics
        self.namespaces: set[str] = set()  # known to exist: not asked for again

    def apply(self, cycle: Cycle, changeset: ChangeSet) -> Failures:
        """Create and update; the first error per spec."""
        failures: Failures = {}
        to_apply = [c for c in changeset if c.action in (Action.CREATE, Action.UPDATE)]
        self._check_creates(cycle, [c for c in to_apply if c.action is Action.CREATE], failures)
        to_apply = [c for c in to_apply if c.spec is None or c.spec not in failures]
        for change in to_apply:
            if change.action is Action.UPDATE:
                log.info(
                    "updating", spec=str(change.spec), object=str(change.ref), reason=change.reason
                )
        self._namespaces(to_apply, failures)
        writes = [
            (self._stamped(c) if c.action is Action.CREATE else c.desired, c.spec)
            for c in to_apply
            if c.desired is not None and (c.spec is None or c.spec not in failures)
        ]
        owners = {ObjectRef.from_object(obj).key: spec for obj, spec in writes}
        named = {ObjectRef.from_object(obj): spec for obj, spec in writes if spec is not None}
        for result in self.cluster.writer.apply([obj for obj, _ in writes], named):
            self.metrics.writes.labels("apply", "ok" if result.ok else "error").inc()
            owner = owners.get(result.ref.key)
            if not result.ok and owner is not None:
                error = result.error or "apply failed"
                failures.setdefault(owner, Failure(Reason.APPLY_FAILED, error))
        return failures

    def _namespaces(self, to_apply: list[Change], failures: Failures) -> None:
        for namespace in sorted({c.ref.namespace for c in to_apply} - self.namespaces):
            if not namespace:
                continue
            error = self.cluster.writer.ensure_namespace(namespace)
            if error is None:
                self.namespaces.add(namespace)
                continue
            for change in to_apply:
                if change.ref.namespace == namespace and change.spec is not None:
                    failures.setdefault(change.spec, Failure(Reason.APPLY_FAILED, error))

    def _check_creates(self, cycle: Cycle, creates: list[Change], failures: Failures) -> None:
        """Look before creating: whose is an object already at that address?"""
        if not creates:
            return
        objects = self.cluster.objects
        cached = {c.ref: found for c in creates if (found := objects.get(c.ref)) is not None}
        lookup = self.cluster.writer.lookup([c.ref for c in creates if c.ref not in cached])
        for change in creates:
            key = change.spec
            if key is None:
                continue
            if change.ref in lookup.errors:
                message = f"cannot tell whether {change.ref} exists: {lookup.errors[change.ref]}"
                failures.setdefault(key, Failure(Reason.APPLY_FAILED, message))
                continue
            found = cached.get(change.ref) or lookup.found.get(change.ref)
            if found is None or is_owned(found, self.instance):
                continue
            held_by = ", ".join(managers(found)) or "unknown"
            where = f"{change.ref.kind} {change.ref.namespace}/{change.ref.name}"
            if self.planner.recorded(key).records(found):
                # Applied by this installation before it wrote tracking ids: still ours.
                log.info("recorded_object_claimed", spec=str(key), object=str(change.ref))
                continue
            loaded = cycle.specs.get(key)
            if loaded is not None and getattr(loaded.spec.spec, "adopt", False):
                log.warning("adopting", spec=str(key), object=str(change.ref), managers=held_by)
                note = f"{where} (managed by {held_by})"
                self.notes.adopt(key, cycle.origins.get(key, ""), note)
                continue
            message = (
                f"{where} already exists and is not owned by this reconciler "
                f"(instance {self.instance}); managed by {held_by}. Nothing was "
                "written for this spec; rename it, or set spec.adopt: true to take the object over"
            )
            log.warning("not_owned", spec=str(key), object=str(change.ref), managers=held_by)
            failures.setdefault(key, Failure(Reason.NOT_OWNED, message))

    def _stamped(self, change: Change) -> dict[str, Any]:
        """A new run carries its creation time to the microsecond, so runs sort newest first."""
        assert change.desired is not None
        if labels.RUN_HASH not in (change.desired["metadata"].get("labels") or {}):
            return change.desired
        metadata = change.desired["metadata"]
        annotations = {
            **(metadata.get("annotations") or {}),
            labels.CREATED_AT: rfc3339_micro(self.clock.now()),
        }
        return {**change.desired, "metadata": {**metadata, "annotations": annotations}}
