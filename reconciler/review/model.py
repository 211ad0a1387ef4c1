"""What a review of a change is made of: field changes, object changes, spec changes.

Plain frozen data, built by ``reconciler.review.compare`` and read by every formatter, so the
text, markdown and JSON outputs can never disagree about what a change does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.diff import FieldChange
from reconciler.errors import SpecProblem
from reconciler.plan import Action


class _Live:
    """The cluster's side of a field that differs from Git, never shown: anyone who can edit the
    object may have typed a secret there (a database URL with its password in an env value)."""

    _instance: _Live | None = None

    def __new__(cls) -> _Live:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(live value)"


LIVE: Any = _Live()


class ObjectAction(StrEnum):
    """What head does to an object, in a reviewer's words: plan's ``Action`` of head's objects
    against base's (``shown_as``), with two runs of one step joined into a REPLACE."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    # A new immutable training run (another name) taking the place of the previous one.
    REPLACE = "replace"
    UNCHANGED = "unchanged"

    @classmethod
    def shown_as(cls, action: Action) -> ObjectAction:
        return _SHOWN_AS[action]


# The one mapping from plan's vocabulary to the review's: a review is read by people deciding on a
# pull request, so a prune reads as a deletion and a kept run as unchanged (nothing is written).
_SHOWN_AS = {
    Action.CREATE: ObjectAction.CREATE,
    Action.UPDATE: ObjectAction.UPDATE,
    Action.PRUNE: ObjectAction.DELETE,
    Action.NOOP: ObjectAction.UNCHANGED,
    Action.KEEP: ObjectAction.UNCHANGED,
}


class ClusterAction(StrEnum):
    """What applying head does to the live object, from a server-side dry run: ObjectAction's
    words for plan's actions, plus the outcomes only a cluster has (gone already, an error)."""

    CREATE = "create"
    UPDATE = "update"
    IN_SYNC = "in-sync"
    DELETE = "delete"
    ABSENT = "absent"  # to be deleted, but the cluster no longer has it
    KEPT = "kept"  # a training run that exists: runs are never patched
    ERROR = "error"


@dataclass(frozen=True)
class ClusterDiff:
    """What applying to a live cluster changes, from a server-side dry run."""

    action: ClusterAction
    fields: tuple[FieldChange, ...] = ()
    message: str = ""

    @property
    def changes_something(self) -> bool:
        return self.action not in (ClusterAction.IN_SYNC, ClusterAction.KEPT, ClusterAction.ABSENT)


@dataclass(frozen=True)
class ObjectChange:
    """One Kubernetes object of a spec: ``before`` from base, ``after`` from head."""

    api_version: str
    kind: str
    namespace: str
    name: str
    action: ObjectAction
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    fields: tuple[FieldChange, ...] = ()
    previous_name: str | None = None  # the run a REPLACE takes over from
    cluster: ClusterDiff | None = None

    @property
    def title(self) -> str:
        return f"{self.api_version} {self.kind} {self.namespace}/{self.name}"

    @property
    def shown(self) -> bool:
        cluster_change = self.cluster is not None and self.cluster.changes_something
        return self.action is not ObjectAction.UNCHANGED or cluster_change


class SpecChangeKind(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    DRIFTED = "drifted"  # same in Git, but the cluster differs from it
    INVALID = "invalid"  # broken at head: not planned, its objects are kept
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SpecChange:
    kind: str
    namespace: str
    name: str
    file: str
    change: SpecChangeKind
    fields: tuple[FieldChange, ...] = ()
    objects: tuple[ObjectChange, ...] = ()
    happens: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Revision:
    ref: str
    commit: str | None  # None: the working tree

    @property
    def short(self) -> str:
        return self.ref if self.commit is None else self.commit[:8]


@dataclass(frozen=True)
class Review:
    base: Revision
    head: Revision
    specs: tuple[SpecChange, ...]  # every spec, unchanged ones included
    errors: tuple[SpecProblem, ...] = ()
    cluster: bool = False

    @property
    def shown(self) -> tuple[SpecChange, ...]:
        return tuple(spec for spec in self.specs if spec.change is not SpecChangeKind.UNCHANGED)

    @property
    def has_changes(self) -> bool:
        return bool(self.shown)

    @property
    def cluster_errors(self) -> tuple[str, ...]:
        return tuple(
            f"{obj.title}: {obj.cluster.message}"
            for spec in self.specs
            for obj in spec.objects
            if obj.cluster is not None and obj.cluster.action is ClusterAction.ERROR
        )

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.cluster_errors)

    def count(self, kind: SpecChangeKind) -> int:
        return sum(1 for spec in self.specs if spec.change is kind)
