"""Phases: the one vocabulary for live objects (health), training runs, pipeline steps and specs.

Values are the exact strings written to status files, notes and notifications and accepted by
``reconciler status --phase``; a member compares equal to its string, so status read back from
YAML needs no conversion to be compared.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Ordered from best to worst (``<`` compares ranks, not spellings), so the phase of many
    things is the worst of theirs.

    - Succeeded and Ready are done: a finished run, a serving object that serves. Succeeded
      ranks below Ready so a spec with a finished training run and a serving Deployment reads
      Ready, the state that still matters.
    - Progressing: a controller is acting and the object is on its way.
    - Pending: nothing has started yet (unscheduled, waiting for an input), further from done
      than Progressing.
    - Blocked: a pipeline step that cannot start because an upstream step failed.
    - Degraded: running, but impaired (crash loops, an autoscaler that cannot scale).
    - Failed: terminal, needs a person or a new commit.
    - Invalid: a spec that does not load; only specs have it, never live objects.
    """

    SUCCEEDED = "Succeeded"
    READY = "Ready"
    PROGRESSING = "Progressing"
    PENDING = "Pending"
    BLOCKED = "Blocked"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    INVALID = "Invalid"

    @property
    def rank(self) -> int:
        return _RANK[self]

    # A plain string is read as the phase it names, so a phase read back from a status file
    # compares by rank too, never alphabetically.
    def __lt__(self, other: str) -> bool:
        return self.rank < Phase(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Phase(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Phase(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Phase(other).rank


_RANK = {phase: rank for rank, phase in enumerate(Phase)}

FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED})
"""A run in one of these will not change again."""
HEALTHY = frozenset({Phase.READY, Phase.SUCCEEDED})
UNSETTLED = frozenset({Phase.PROGRESSING, Phase.PENDING})
"""Still on its way: neither healthy nor in need of a person yet."""
FAILING = frozenset({Phase.FAILED, Phase.INVALID, Phase.DEGRADED})
"""Needs a person or a new commit; what dashboards, notes and notifications flag."""
