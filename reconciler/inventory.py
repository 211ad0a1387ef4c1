"""Object identity and ownership: which spec an object belongs to and whether it is ours.

An object is ours when its ``mlops/tracking-id`` annotation is the one this installation writes
for that very object (``<instance>:<group>/<Kind>:<namespace>/<name>``): the generic labels can be
copied onto anything, the id names both the owner and the object. It may be pruned only when it is
also in the inventory, the record of what we applied (the ``resources`` of the status files, with
each object's uid), so an object created just before a crash, before it was recorded, is at worst
left behind, never one we did not make deleted.

Plain data only, so pruning is a set difference over refs and never needs a client.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler import labels
from reconciler.specs.loaded import SpecKey

INSTANCE_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$"
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.+)$")


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


def _annotations(obj: Mapping[str, Any]) -> dict[str, Any]:
    annotations = (obj.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def tracking_id(instance: str, ref: ObjectRef) -> str:
    """What ``instance`` writes on ``ref``: its own name and the object's group, kind and place."""
    return f"{instance}:{ref.group}/{ref.kind}:{ref.namespace}/{ref.name}"


def is_owned(obj: dict[str, Any], instance: str) -> bool:
    """True when ``obj`` carries the tracking id ``instance`` writes for this very object."""
    return _annotations(obj).get(labels.TRACKING_ID) == tracking_id(
        instance, ObjectRef.from_object(obj)
    )


def stamp(obj: dict[str, Any], instance: str) -> dict[str, Any]:
    """``obj`` with the instance label and its tracking id: what makes an applied object ours."""
    metadata = obj.get("metadata") or {}
    return {
        **obj,
        "metadata": {
            **metadata,
            "labels": {**(metadata.get("labels") or {}), labels.INSTANCE: instance},
            "annotations": {
                **(metadata.get("annotations") or {}),
                labels.TRACKING_ID: tracking_id(instance, ObjectRef.from_object(obj)),
            },
        },
    }


def managers(obj: Mapping[str, Any]) -> list[str]:
    """Who manages an object, by name only: its field managers and its managed-by label."""
    metadata = obj.get("metadata") or {}
    names = {
        str(entry["manager"])
        for entry in metadata.get("managedFields") or ()
        if isinstance(entry, dict) and entry.get("manager")
    }
    label = ((metadata.get("labels") or {}) if isinstance(metadata, dict) else {}).get(
        labels.MANAGED_BY
    )
    if label:
        names.add(f"{labels.MANAGED_BY}={label}")
    return sorted(names)


@dataclass(frozen=True)
class Recorded:
    """One entry of the inventory: an object we applied, and its uid when it was recorded."""

    key: tuple[str, str, str, str]
    uid: str = ""  # empty in records written before uids were kept: the address alone counts


@dataclass(frozen=True)
class Inventory:
    """What one installation may prune of one spec: objects it owns that it recorded applying."""

    instance: str
    recorded: frozenset[Recorded] = frozenset()

    def owns(self, obj: dict[str, Any]) -> bool:
        return is_owned(obj, self.instance)

    def records(self, obj: dict[str, Any]) -> bool:
        """True when the record names this object: same uid, or same address in an old record."""
        key = ObjectRef.from_object(obj).key
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        return Recorded(key, uid) in self.recorded or Recorded(key) in self.recorded

    def may_prune(self, obj: dict[str, Any]) -> bool:
        return self.owns(obj) and self.records(obj)

    @classmethod
    def of(cls, instance: str, objects: Iterable[tuple[ObjectRef, str]]) -> Inventory:
        """From ``(ref, uid)`` pairs, as a status file lists them."""
        return cls(instance, frozenset(Recorded(ref.key, uid) for ref, uid in objects))


def default_instance(repo: str, branch: str) -> str:
    """A short hash of the repository (credentials and scheme dropped) and branch.

    Two installations reconciling different repositories or branches get different identities
    without any setting; the same repository reached over HTTPS or SSH, with or without a token,
    gets the same one.
    """
    digest = hashlib.sha256(f"{normalised_repository(repo)}#{branch}".encode()).hexdigest()
    return digest[:12]


def normalised_repository(repo: str) -> str:
    """``host/path`` of a remote (no user, password, scheme or ``.git``), or an absolute path."""
    text = repo.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme == "file":
            return str(Path(parts.path).resolve())
        host = (parts.hostname or "").lower()
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return _trimmed(f"{host}/{parts.path.lstrip('/')}")
    scp = _SCP_LIKE.match(text)
    if scp is not None and not Path(text).exists():
        return _trimmed(f"{scp['host'].lower()}/{scp['path'].lstrip('/')}")
    return str(Path(text).resolve())


def _trimmed(location: str) -> str:
    location = location.rstrip("/")
    return location[: -len(".git")] if location.endswith(".git") else location


def owner_spec(obj: dict[str, Any]) -> SpecKey | None:
    """The key of the spec that rendered ``obj``, or None when unlabelled.

    A cluster-scoped object has no namespace of its own, so it falls back to the
    ``mlops/spec-namespace`` label.
    """
    labels_ = _labels(obj)
    kind = labels_.get(labels.SPEC_KIND)
    name = labels_.get(labels.SPEC_NAME)
    if not kind or not name:
        return None
    namespace = (obj.get("metadata") or {}).get("namespace") or labels_.get(labels.SPEC_NAMESPACE)
    return SpecKey(str(kind), str(namespace or ""), str(name))
