"""What the loader hands to every later stage: valid specs with their origin, and the problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from reconciler.errors import SpecProblem
from reconciler.specs.models import AnySpec, RepoConfig


class SpecKey(NamedTuple):
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class LoadedSpec:
    """One valid spec; ``spec.metadata.namespace`` is already resolved from the repo config."""

    spec: AnySpec
    file: str  # path relative to the repository root, with forward slashes
    line: int  # 1-based line where the document starts
    blob: str  # Git blob id (or content hash outside Git) of the file it came from

    @cached_property
    def key(self) -> SpecKey:
        metadata = self.spec.metadata
        return SpecKey(self.spec.kind, metadata.namespace or "default", metadata.name)


@dataclass(frozen=True)
class LoadResult:
    config: RepoConfig
    specs: tuple[LoadedSpec, ...] = ()
    problems: tuple[SpecProblem, ...] = ()
    # Broken documents that still name their kind and name: their spec becomes Invalid.
    invalid: Mapping[SpecKey, tuple[SpecProblem, ...]] = field(default_factory=dict)
    # Every file with any problem: the objects of specs from these files are never pruned.
    failed_files: frozenset[str] = frozenset()
    # Why reconciler.yaml could not be used (also in ``problems``): the specs above were then
    # checked against the defaults, which is only good for reporting. Nothing may be applied
    # from such a result (fail closed): the config's limits would be missing.
    config_problems: tuple[SpecProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
