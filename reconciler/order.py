"""Apply and prune order: the rank of each (group, kind) is its position in the registry
(``reconciler.kinds``), as Flux's ``ssa/sort.go`` keeps one rank table.

Objects are applied so that what another object refers to exists first; pruning walks the same
order backwards so a namespace goes last, after its contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.inventory import ObjectRef
from reconciler.kinds import UNKNOWN_RANK, rank

__all__ = ["UNKNOWN_RANK", "apply_order", "prune_order", "rank"]


def _ref_rank(ref: ObjectRef) -> int:
    return rank(ref.group, ref.kind)


def apply_order(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects sorted by rank, then by kind, namespace and name so the order is reproducible."""

    def key(obj: dict[str, Any]) -> tuple[int, ObjectRef]:
        ref = ObjectRef.from_object(obj)
        return (_ref_rank(ref), ref)

    return sorted(objects, key=key)


def prune_order(refs: Iterable[ObjectRef]) -> list[ObjectRef]:
    """Refs in reverse rank: serving first, namespaces last; by ref within one rank."""
    return sorted(refs, key=lambda ref: (-_ref_rank(ref), ref))
