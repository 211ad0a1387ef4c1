"""Apply and prune order: one (group, kind) rank table, as Flux's ``ssa/sort.go`` does.

Objects are applied so that what another object refers to exists first: namespaces, then the
configuration pods mount, then training runs (a ModelDeployment may serve what they produce), then
serving. Pruning walks the same table backwards so a namespace goes last, after its contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.cluster.inventory import ObjectRef

# One entry per (group, kind); the position is the rank. Within serving, a Deployment precedes the
# Service that selects its pods and the HorizontalPodAutoscaler whose scale target it is.
_TABLE: tuple[tuple[str, str], ...] = (
    # cluster scaffolding
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("", "Namespace"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("scheduling.k8s.io", "PriorityClass"),
    # what pods mount or run as
    ("", "ServiceAccount"),
    ("", "Secret"),
    ("", "ConfigMap"),
    ("", "PersistentVolumeClaim"),
    # training
    ("batch", "Job"),
    ("kubeflow.org", "PyTorchJob"),
    ("ray.io", "RayJob"),
    # serving
    ("apps", "Deployment"),
    ("", "Service"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("serving.kserve.io", "InferenceService"),
    ("machinelearning.seldon.io", "SeldonDeployment"),
)
_RANK = {entry: position for position, entry in enumerate(_TABLE)}
UNKNOWN_RANK = len(_TABLE)


def rank(group: str, kind: str) -> int:
    """Position in apply order; kinds outside the table come last, after serving."""
    return _RANK.get((group, kind), UNKNOWN_RANK)


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
