"""What the engine needs from the world, as protocols: the real parts and test fakes both fit.

The real ones are ``reconciler.cluster`` (discovery, watch caches, the writer) and
``reconciler.source.git.GitSource``; ``build.build_engine`` assembles them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pygit2

from reconciler.cluster.apply import Lookup, WriteResult
from reconciler.inventory import ObjectRef
from reconciler.specs.loaded import SpecKey


class Source(Protocol):
    """The spec branch: fetched on a trigger, read in-process through its clone."""

    @property
    def repo(self) -> pygit2.Repository: ...

    def fetch(self) -> object:
        """The branch tip after a fetch; raises SourceError."""
        ...


class Kinds(Protocol):
    """Which kinds the cluster serves (``cluster.discovery.Discovery``)."""

    def served(self, api_version: str, kind: str) -> bool: ...

    def refresh(self) -> None: ...


class Objects(Protocol):
    """Live objects by owning spec, kept current by watches (``cluster.cache.WatchCache``)."""

    @property
    def served_kinds(self) -> list[tuple[str, str]]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sync_kinds(self) -> None: ...

    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def owned_by(self, owner: SpecKey) -> list[dict[str, Any]]: ...

    def versions(self, owner: SpecKey) -> list[str | None]: ...

    def owners(self) -> set[SpecKey]: ...


class Writes(Protocol):
    """Server-side apply, deletion and look-ups (``cluster.apply.Writer``)."""

    def apply(
        self, objects: Sequence[dict[str, Any]], owners: Mapping[ObjectRef, SpecKey] = ...
    ) -> list[WriteResult]: ...

    def delete(
        self, refs: Sequence[ObjectRef], owners: Mapping[ObjectRef, SpecKey] = ...
    ) -> list[WriteResult]: ...

    def lookup(self, refs: Sequence[ObjectRef]) -> Lookup: ...

    def ensure_namespace(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class Cluster:
    """The engine's view of the cluster: what it reads and how it writes."""

    kinds: Kinds
    objects: Objects  # the managed objects of this installation
    pods: Objects  # pods of runs: their termination messages carry metrics
    writer: Writes
