"""Stage prune, last: delete what Git no longer declares, once the guard releases it."""

from __future__ import annotations

from reconciler.metrics import Metrics
from reconciler.plan import Change
from reconciler.reasons import Reason

from .context import Failure, Failures
from .ports import Writes


def prune(prunes: list[Change], writer: Writes, metrics: Metrics) -> Failures:
    """Delete in reverse rank order; the first error per spec."""
    failures: Failures = {}
    if not prunes:
        return failures
    owners = {c.ref: c.spec for c in prunes if c.spec is not None}
    for result in writer.delete([c.ref for c in prunes], owners):
        metrics.writes.labels("delete", "ok" if result.ok else "error").inc()
        owner = owners.get(result.ref)
        if not result.ok and owner is not None:
            error = result.error or "delete failed"
            failures.setdefault(owner, Failure(Reason.APPLY_FAILED, error))
    return failures
