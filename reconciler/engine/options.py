"""What the engine is told: its options, and the triggers that wake it."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import kinds
from reconciler.specs.loaded import SpecKey
from reconciler.specs.models import TenancyLimits

MANAGED_KINDS = kinds.managed()


@dataclass(frozen=True)
class Trigger:
    reason: str  # start | poll | commit | webhook | watch | resync | retry | analysis
    owner: SpecKey | None = None  # the spec whose object a watch event concerned


@dataclass(frozen=True)
class EngineOptions:
    instance: str  # this installation's identity (reconciler/inventory.py): what it owns
    max_prune_fraction: float = 0.5
    allow_prune: str | None = None  # the operator releases the guard held at this commit
    apply_concurrency: int = 16  # as ClusterSettings' default (bench/README.md says why)
    limits: TenancyLimits | None = None  # the operator's, tightening reconciler.yaml's
    max_fetch_backoff: float = 60.0  # seconds; a failing remote is retried at most this rarely
    # seconds; a reconcile that raised is retried after 1, 2, 4 ... s, at most this rarely
    max_retry_backoff: float = 60.0
    # A namespaced install watches only these namespaces; None watches cluster-wide.
    watch_namespaces: tuple[str, ...] | None = None
