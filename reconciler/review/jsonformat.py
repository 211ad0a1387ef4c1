"""``--format json``: a stable structure for machines (documented in docs/reviewing.md).

Keys are fixed and always present except ``before``/``after`` of a field change (left out
when that side lacks the field; a cluster field never has ``before``, it says ``"live":
"hidden"`` instead when the cluster has a value there) and ``manifest``, ``previousName`` and
``cluster`` of an object (present when they apply). Bump ``formatVersion`` on any incompatible
change.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.diff import ABSENT, FieldChange
from reconciler.review.model import (
    LIVE,
    ClusterDiff,
    ObjectAction,
    ObjectChange,
    Review,
    Revision,
    SpecChange,
    SpecChangeKind,
)
from reconciler.review.summary import risk_count
from reconciler.review.values import comparable

# 2: cluster fields no longer carry the live value (``before``), only ``"live": "hidden"``.
FORMAT_VERSION = 2


def format_json(review: Review) -> str:
    return json.dumps(as_dict(review), indent=2, ensure_ascii=False) + "\n"


def as_dict(review: Review) -> dict[str, Any]:
    summary: dict[str, int] = {kind.value: review.count(kind) for kind in SpecChangeKind}
    summary["risks"] = risk_count(review)
    summary["errors"] = len(review.errors) + len(review.cluster_errors)
    return {
        "formatVersion": FORMAT_VERSION,
        "base": _revision(review.base),
        "head": _revision(review.head),
        "cluster": review.cluster,
        "hasChanges": review.has_changes,
        "summary": summary,
        "errors": [problem.as_dict() for problem in review.errors],
        "clusterErrors": list(review.cluster_errors),
        "specs": [_spec(spec) for spec in review.shown],
    }


def _revision(revision: Revision) -> dict[str, Any]:
    return {"ref": revision.ref, "commit": revision.commit}


def _spec(spec: SpecChange) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "namespace": spec.namespace,
        "name": spec.name,
        "file": spec.file,
        "change": spec.change.value,
        "happens": list(spec.happens),
        "risks": list(spec.risks),
        "fields": [_field(change) for change in spec.fields],
        "objects": [_object(obj) for obj in spec.objects if obj.shown],
    }


def _object(obj: ObjectChange) -> dict[str, Any]:
    result: dict[str, Any] = {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "namespace": obj.namespace,
        "name": obj.name,
        "action": obj.action.value,
        "fields": [_field(change) for change in obj.fields],
    }
    if obj.previous_name:
        result["previousName"] = obj.previous_name
    if obj.action is ObjectAction.CREATE:
        result["manifest"] = comparable(obj.after)
    if obj.cluster is not None:
        result["cluster"] = _cluster(obj.cluster)
    return result


def _cluster(cluster: ClusterDiff) -> dict[str, Any]:
    return {
        "action": cluster.action.value,
        "message": cluster.message,
        "fields": [_field(change) for change in cluster.fields],
    }


def _field(change: FieldChange) -> dict[str, Any]:
    result: dict[str, Any] = {"path": change.path}
    if change.before is LIVE:
        result["live"] = "hidden"
    elif change.before is not ABSENT:
        result["before"] = change.before
    if change.after is not ABSENT:
        result["after"] = change.after
    return result
