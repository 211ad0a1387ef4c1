"""Stage health, for the guard: which replacements are done, so the prunes they wait on may go.

A spec that a commit created or changed replaces what the commit removed: those removals wait
until it applied and, when it serves, until its current objects are Ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.health import assess, worst
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome
from reconciler.status.book import StatusBook

from .context import Cycle, Failures
from .planning import Planner


def still_waiting(
    replacements: Iterable[SpecKey],
    cycle: Cycle,
    outcomes: Mapping[SpecKey, Outcome],
    failures: Failures,
    book: StatusBook,
    planner: Planner,
) -> set[SpecKey]:
    """The replacements that have not applied, or (serving) are not Ready yet."""
    return {
        key for key in replacements if not _replaced(key, cycle, outcomes, failures, book, planner)
    }


def _replaced(
    key: SpecKey,
    cycle: Cycle,
    outcomes: Mapping[SpecKey, Outcome],
    failures: Failures,
    book: StatusBook,
    planner: Planner,
) -> bool:
    if key in cycle.load.invalid:
        return False
    if key not in cycle.specs:
        return True  # removed since: it replaces nothing
    outcome = outcomes.get(key)
    serving = key.kind == "ModelDeployment"
    if outcome is None:  # planned clean before and nothing it reads changed since
        status = book.statuses.get(key)
        return not serving or (status is not None and status.phase is Phase.READY)
    if outcome.stage_reason is not None or key in failures:
        return False
    if outcome.waiting is not None or not serving:
        return True
    current = [o for o in planner.owned(key) if o["metadata"]["name"] in outcome.current]
    return bool(current) and worst(assess(obj) for obj in current).phase <= Phase.READY
