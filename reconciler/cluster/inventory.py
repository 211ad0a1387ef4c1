"""Object identity and ownership: which spec an object belongs to and whether it is ours.

Plain data only, so pruning is a set difference over refs and never needs a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler import labels


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An object's address: ``apps/v1 Deployment ml-team/fraud-detector``.

    Cluster-scoped objects (Namespace) have ``namespace == ""``.
    """

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> ObjectRef:
        metadata = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion") or ""),
            kind=str(obj.get("kind") or ""),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
        )

    @property
    def group(self) -> str:
        """The API group; ``""`` for the core group (``v1``)."""
        group, _, _ = self.api_version.rpartition("/")
        return group

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity without the version.

        The API server serves one stored object at every version of its group, so a live object
        read as ``autoscaling/v1`` is the same object a manifest declares as ``autoscaling/v2``.
        Pairing by this key keeps a version bump from looking like a create plus a prune.
        """
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.api_version} {self.kind} {where}"


def _labels(obj: dict[str, Any]) -> dict[str, Any]:
    labels_ = (obj.get("metadata") or {}).get("labels")
    return labels_ if isinstance(labels_, dict) else {}


def is_managed(obj: dict[str, Any]) -> bool:
    """True for objects this reconciler created; only these may ever be pruned."""
    return _labels(obj).get(labels.MANAGED_BY) == labels.MANAGER


def owner_spec(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(kind, namespace, name)`` of the spec that rendered ``obj``, or None when unlabelled.

    A cluster-scoped object has no namespace of its own, so it falls back to the
    ``mlops/spec-namespace`` label.
    """
    labels_ = _labels(obj)
    kind = labels_.get(labels.SPEC_KIND)
    name = labels_.get(labels.SPEC_NAME)
    if not kind or not name:
        return None
    namespace = (obj.get("metadata") or {}).get("namespace") or labels_.get(labels.SPEC_NAMESPACE)
    return (str(kind), str(namespace or ""), str(name))
