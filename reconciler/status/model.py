"""The files of the status branch: one per spec plus ``repository.yaml``, and their commit messages.

Serialisation is deterministic (fixed key order for the common fields, sorted keys inside the
kind-specific ones, resources and conditions sorted), so a file's bytes change only when its
content does and ``git log -- <file>`` reads as a history of events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import yaml

from reconciler import yamlout
from reconciler.phase import FAILING, Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.progress import event

REPOSITORY_FILE = "repository.yaml"
_SUBJECT_NAMES = 5  # names listed in a subject line before "+N more"
_DETAIL_MESSAGE = 60  # characters of a failure message quoted in a subject line


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown", as in Kubernetes conditions
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""  # RFC 3339, UTC

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(
            type=str(data["type"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
            last_transition_time=_timestamp(data.get("lastTransitionTime")),
        )


@dataclass(frozen=True, order=True)
class ResourceRef:
    """An object a spec owns; ``uid`` tells it from a later object of the same name, so the
    record of what was applied (the inventory) names objects, not places."""

    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str
    uid: str = ""  # empty in files written before uids were recorded

    def to_dict(self) -> dict[str, Any]:
        data = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }
        if self.uid:
            data["uid"] = self.uid
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceRef:
        return cls(
            api_version=str(data["apiVersion"]),
            kind=str(data["kind"]),
            namespace=str(data.get("namespace") or ""),
            name=str(data["name"]),
            uid=str(data.get("uid") or ""),
        )


_SPEC_FIELDS = ("observedCommit", "phase", "message", "conditions", "resources")


@dataclass(frozen=True)
class SpecStatus:
    """One spec's status; ``extra`` holds the kind-specific fields with their YAML (camelCase) keys.

    Serving: ``modelUri``, ``replicas: {ready, desired}``, ``canary``. Training: ``runs: [{hash,
    phase, metrics, outputUri, sourceCommit, startTime, endTime}]``, oldest first. Pipeline:
    ``steps: [{name, phase, ...}]``.
    """

    observed_commit: str
    phase: Phase
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    resources: tuple[ResourceRef, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", Phase(self.phase))
        clash = set(self.extra) & set(_SPEC_FIELDS)
        if clash:
            raise ValueError(f"kind-specific fields may not reuse common keys: {sorted(clash)}")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "observedCommit": self.observed_commit,
            "phase": str(self.phase),
            "message": self.message,
            "conditions": [c.to_dict() for c in sorted(self.conditions, key=lambda c: c.type)],
            "resources": [r.to_dict() for r in sorted(self.resources)],
        }
        for key in sorted(self.extra):
            data[key] = _canonical(self.extra[key])
        return data

    def to_yaml(self) -> bytes:
        return _dump(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpecStatus:
        return cls(
            observed_commit=str(data.get("observedCommit") or ""),
            phase=Phase(data["phase"]),
            message=str(data.get("message") or ""),
            conditions=tuple(Condition.from_dict(c) for c in data.get("conditions") or ()),
            resources=tuple(ResourceRef.from_dict(r) for r in data.get("resources") or ()),
            extra={k: v for k, v in data.items() if k not in _SPEC_FIELDS},
        )

    @classmethod
    def from_yaml(cls, content: bytes) -> SpecStatus:
        return cls.from_dict(_load_mapping(content))


@dataclass(frozen=True)
class UnparsableFile:
    file: str
    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass(frozen=True)
class PruneGuard:
    """Prunes withheld, and why: ``held`` at ``commit`` until a new commit releases it or the
    operator overrides it (``override``), or, not held, waiting for ``waiting_for`` (specs whose
    new objects must apply and become ready first) or for files that failed to load.

    ``owned_before`` is how many objects this installation owned before the first held commit:
    every later commit is judged against it, never against objects a held commit created.
    """

    held: bool
    reason: str = ""
    override: bool = False  # pruning went ahead because the guard was explicitly overridden
    commit: str = ""  # the branch head the guard held (or that the override released)
    owned_before: int = 0
    waiting_for: tuple[str, ...] = ()  # spec keys, ``Kind/namespace/name``

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"held": self.held, "reason": self.reason, "override": self.override}
        if self.commit:
            data["commit"] = self.commit
            data["ownedBefore"] = self.owned_before
        if self.waiting_for:
            data["waitingFor"] = sorted(self.waiting_for)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruneGuard:
        return cls(
            held=bool(data.get("held")),
            reason=str(data.get("reason") or ""),
            override=bool(data.get("override")),
            commit=str(data.get("commit") or ""),
            owned_before=int(data.get("ownedBefore") or 0),
            waiting_for=tuple(str(key) for key in data.get("waitingFor") or ()),
        )


@dataclass(frozen=True)
class RepositoryStatus:
    """What belongs to no single spec: the source commit reconciled and the source's own health."""

    source_commit: str
    source_phase: Phase
    source_message: str = ""
    unparsable_files: tuple[UnparsableFile, ...] = ()
    prune_guard: PruneGuard | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_phase", Phase(self.source_phase))

    def to_dict(self) -> dict[str, Any]:
        files = sorted(self.unparsable_files, key=lambda f: (f.file, f.line, f.message))
        return {
            "sourceCommit": self.source_commit,
            "sourcePhase": str(self.source_phase),
            "sourceMessage": self.source_message,
            "unparsableFiles": [f.to_dict() for f in files],
            "pruneGuard": self.prune_guard.to_dict() if self.prune_guard else None,
        }

    def to_yaml(self) -> bytes:
        return _dump(self.to_dict())

    @classmethod
    def from_yaml(cls, content: bytes) -> RepositoryStatus:
        data = _load_mapping(content)
        guard = data.get("pruneGuard")
        return cls(
            source_commit=str(data.get("sourceCommit") or ""),
            source_phase=Phase(data["sourcePhase"]),
            source_message=str(data.get("sourceMessage") or ""),
            unparsable_files=tuple(
                UnparsableFile(str(f["file"]), int(f.get("line") or 0), str(f.get("message") or ""))
                for f in data.get("unparsableFiles") or ()
            ),
            prune_guard=PruneGuard.from_dict(guard) if isinstance(guard, Mapping) else None,
        )


def status_path(key: SpecKey) -> str:
    """``<namespace>/<kind lowercase>/<name>.yaml``: where a spec's status lives on the branch."""
    return f"{key.namespace}/{key.kind.lower()}/{key.name}.yaml"


def carry_transitions(old: SpecStatus | None, new: SpecStatus) -> SpecStatus:
    """Keep each condition's ``lastTransitionTime`` from ``old`` while its status is unchanged."""
    if old is None:
        return new
    previous = {c.type: c for c in old.conditions}
    conditions = tuple(
        replace(c, last_transition_time=previous[c.type].last_transition_time)
        if c.type in previous and previous[c.type].status == c.status
        else c
        for c in new.conditions
    )
    return replace(new, conditions=conditions)


@dataclass(frozen=True)
class StatusChange:
    """One spec whose status file changed; ``status`` None means the spec (and file) went away.
    ``previous`` is the status it replaced (None for a new spec), for who reports phase changes."""

    key: SpecKey
    status: SpecStatus | None
    previous: SpecStatus | None = None


def commit_message(
    changes: Sequence[StatusChange],
    source_commit: str,
    repository: RepositoryStatus | None = None,
) -> str:
    """One subject line naming the spec(s), phase and short commit; a body; a trailer.

    ``fraud-detector: Ready (2/2 replicas) at 1a2b3c4``, or for several specs
    ``3 specs changed at 1a2b3c4: a Ready, b Failed, c removed`` with one body line per spec.
    A canary step or a sweep trial that leaves the phase as it was is named instead:
    ``scorer: canary 25% -> 50% at 1a2b3c4``.
    """
    short = source_commit[:7]
    ordered = sorted(changes, key=lambda c: (c.key.namespace, c.key.name, c.key.kind))
    body: list[str] = []
    if len(ordered) == 1:
        change = ordered[0]
        happened = _happened(change)
        previous, status = change.previous, change.status
        if happened and previous and status and previous.phase == status.phase:
            subject = f"{change.key.name}: {happened} at {short}"
        else:
            subject = f"{change.key.name}: {_describe(change.status, happened=happened)} at {short}"
        if change.status is not None and change.status.message:
            body.append(change.status.message)
    elif ordered:
        names = [f"{c.key.name} {_phase_word(c.status)}" for c in ordered[:_SUBJECT_NAMES]]
        more = len(ordered) - _SUBJECT_NAMES
        listed = ", ".join(names) + (f", +{more} more" if more > 0 else "")
        subject = f"{len(ordered)} specs changed at {short}: {listed}"
        body.extend(
            f"- {c.key}: {_describe(c.status, with_message=True, happened=_happened(c))}"
            for c in ordered
        )
    else:
        phase = repository.source_phase if repository else Phase.READY
        subject = f"repository: {phase} at {short}"
        if repository is not None and repository.source_message:
            body.append(repository.source_message)
    parts = [subject]
    if body:
        parts.append("\n".join(body))
    parts.append(f"Source-Commit: {source_commit}")
    return "\n\n".join(parts) + "\n"


def _phase_word(status: SpecStatus | None) -> str:
    return "removed" if status is None else str(status.phase)


def _happened(change: StatusChange) -> str | None:
    """The canary step or sweep trial this change records, if it records one."""
    if change.status is None:
        return None
    return event(change.previous.extra if change.previous else None, change.status.extra)


def _describe(
    status: SpecStatus | None, with_message: bool = False, happened: str | None = None
) -> str:
    if status is None:
        return "removed"
    detail = happened or _detail(status)
    text = f"{status.phase} ({detail})" if detail else str(status.phase)
    if with_message and status.message and status.message != detail:
        text += f": {status.message}"
    return text


def _detail(status: SpecStatus) -> str:
    """The kind-specific fact worth a subject line: replicas, latest run, steps, or the failure."""
    extra = status.extra
    replicas = extra.get("replicas")
    if isinstance(replicas, Mapping) and "desired" in replicas:
        return f"{replicas.get('ready', 0)}/{replicas['desired']} replicas"
    current = extra.get("currentRun")
    if isinstance(current, str) and current:
        return f"run {current.rsplit('-', 1)[-1]}"
    steps = extra.get("steps")
    if isinstance(steps, Sequence) and steps:
        done = sum(1 for s in steps if isinstance(s, Mapping) and s.get("phase") == Phase.SUCCEEDED)
        return f"{done}/{len(steps)} steps succeeded"
    if status.phase in FAILING and status.message:
        message = status.message
        if len(message) > _DETAIL_MESSAGE:
            message = message[: _DETAIL_MESSAGE - 3] + "..."
        return message
    return ""


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, StrEnum):
        return str(value)
    return value


def _timestamp(value: Any) -> str:
    # A hand-edited file may hold an unquoted timestamp, which YAML reads as a datetime.
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value or "")


def _dump(data: Mapping[str, Any]) -> bytes:
    return yamlout.dump(dict(data)).encode("utf-8")


def _load_mapping(content: bytes) -> dict[str, Any]:
    data = yaml.load(content, Loader=_LOADER)
    if not isinstance(data, dict):
        raise ValueError("status file is not a YAML mapping")
    return data


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
