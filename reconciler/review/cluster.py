"""What applying head would change in a live cluster, as ``kubectl diff --server-side`` shows.

Each head object is applied with ``dryRun=All`` (server-side apply, ``fieldManager=reconciler``,
forced) and the server's answer is compared with the live object. Only the fields the manifest
sets are compared, so server defaults, status and bookkeeping metadata (managedFields,
resourceVersion, generation, uid, creationTimestamp) never show; hand-made drift and values the
server rewrites do. Objects head deletes are looked up to say whether they still exist.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler import labels
from reconciler.cluster.client import APPLY_PATCH, KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.diff import ABSENT, FieldChange, changes, project
from reconciler.errors import ApiError, NotServed
from reconciler.review.model import (
    LIVE,
    ClusterAction,
    ClusterDiff,
    ObjectAction,
    ObjectChange,
    Review,
    SpecChange,
    SpecChangeKind,
)
from reconciler.review.values import IGNORED_ANNOTATIONS


def observe(review: Review, client: KubeClient, discovery: Discovery) -> Review:
    """``review`` with a ClusterDiff on every object; specs equal in Git but not in the
    cluster become DRIFTED."""
    specs = []
    for spec in review.specs:
        if spec.change is SpecChangeKind.INVALID:
            specs.append(spec)
            continue
        objects = tuple(
            replace(obj, cluster=_observe(obj, client, discovery)) for obj in spec.objects
        )
        specs.append(_with_drift(replace(spec, objects=objects)))
    return replace(review, specs=tuple(specs), cluster=True)


def _with_drift(spec: SpecChange) -> SpecChange:
    if spec.change is not SpecChangeKind.UNCHANGED:
        return spec
    # An object the cluster could not answer for is an error, reported as such, not drift.
    drifted = [
        obj
        for obj in spec.objects
        if obj.cluster is not None
        and obj.cluster.changes_something
        and obj.cluster.action is not ClusterAction.ERROR
    ]
    if not drifted:
        return spec
    happens = tuple(
        f"{obj.kind} {obj.name} differs from Git and will be {_verb(obj.cluster.action)}"
        for obj in drifted
        if obj.cluster is not None
    )
    return replace(spec, change=SpecChangeKind.DRIFTED, happens=happens)


def _verb(action: ClusterAction) -> str:
    return {ClusterAction.CREATE: "created", ClusterAction.DELETE: "deleted"}.get(action, "updated")


def _observe(obj: ObjectChange, client: KubeClient, discovery: Discovery) -> ClusterDiff:
    try:
        resource = discovery.resource(obj.api_version, obj.kind)
        path = resource.object_path(obj.name, obj.namespace or None)
        live = _get(client, path)
        if obj.action is ObjectAction.DELETE:
            return ClusterDiff(ClusterAction.ABSENT if live is None else ClusterAction.DELETE)
        assert obj.after is not None
        if live is not None and labels.RUN_HASH in (obj.after["metadata"].get("labels") or {}):
            return ClusterDiff(ClusterAction.KEPT, message="run exists; runs are never patched")
        dry_run = client.request(
            "PATCH",
            path,
            query={"fieldManager": labels.FIELD_MANAGER, "force": "true", "dryRun": "All"},
            body=obj.after,
            content_type=APPLY_PATCH,
        )
    except (ApiError, NotServed) as exc:
        return ClusterDiff(ClusterAction.ERROR, message=str(exc))
    if live is None:
        return ClusterDiff(ClusterAction.CREATE)
    fields = tuple(
        _without_live_value(change)
        for change in changes(_compared(obj.after, live), _compared(obj.after, dry_run))
    )
    return ClusterDiff(ClusterAction.UPDATE if fields else ClusterAction.IN_SYNC, fields)


def _without_live_value(change: FieldChange) -> FieldChange:
    """The path and what applying writes there, but not what the cluster holds now: a plan is
    posted in pull requests and CI logs, and a hand edit may have put a secret in the field."""
    return replace(change, before=change.before if change.before is ABSENT else LIVE)


def _get(client: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        return client.request("GET", path)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _compared(manifest: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """The part of a server object the manifest sets; of metadata only labels and annotations."""
    shape = {key: value for key, value in manifest.items() if key not in ("metadata", "status")}
    result = project(shape, obj)
    metadata = obj.get("metadata") or {}
    wanted = manifest.get("metadata") or {}
    for part in ("labels", "annotations"):
        if part in wanted:
            values = project(wanted[part], metadata.get(part) or {})
            for key in IGNORED_ANNOTATIONS:
                values.pop(key, None)
            result.setdefault("metadata", {})[part] = values
    return result
