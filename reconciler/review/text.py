"""Concise terminal output of a review."""

from __future__ import annotations

from reconciler.diff import ABSENT, FieldChange
from reconciler.review.model import ClusterDiff, ObjectAction, ObjectChange, Review, SpecChangeKind
from reconciler.review.summary import headline, revision_label
from reconciler.review.values import exact

MARKS = {
    SpecChangeKind.ADDED: "+",
    SpecChangeKind.CHANGED: "~",
    SpecChangeKind.REMOVED: "-",
    SpecChangeKind.DRIFTED: "~",
    SpecChangeKind.INVALID: "!",
}
OBJECT_MARKS = {
    ObjectAction.CREATE: "+",
    ObjectAction.UPDATE: "~",
    ObjectAction.DELETE: "-",
    ObjectAction.REPLACE: "+",
    ObjectAction.UNCHANGED: "=",
}


def format_text(review: Review) -> str:
    lines = [
        f"reconciler plan: {revision_label(review.base)} -> {revision_label(review.head)}",
        headline(review),
    ]
    if review.has_errors:
        lines += ["", "errors:"] + [f"  {problem}" for problem in review.errors]
        lines += [f"  cluster: {error}" for error in review.cluster_errors]
    for spec in review.shown:
        lines += ["", f"{MARKS[spec.change]} {spec.title}  {spec.change}  ({spec.file})"]
        lines += [f"    {line}" for line in spec.happens]
        lines += [f"    ! {risk}" for risk in spec.risks]
        for obj in spec.objects:
            if obj.shown:
                lines += _object(obj)
    return "\n".join(lines) + "\n"


def _object(obj: ObjectChange) -> list[str]:
    replaces = f" (replaces {obj.previous_name})" if obj.previous_name else ""
    lines = [f"    {OBJECT_MARKS[obj.action]} {obj.title}{replaces}"]
    lines += [f"        {_field(change)}" for change in obj.fields]
    if obj.cluster is not None:
        lines += _cluster(obj.cluster)
    return lines


def _cluster(cluster: ClusterDiff) -> list[str]:
    message = f": {cluster.message}" if cluster.message else ""
    lines = [f"      cluster: {cluster.action}{message}"]
    return lines + [f"        {_field(change)}" for change in cluster.fields]


def _field(change: FieldChange) -> str:
    if change.before is ABSENT:
        return f"{change.path}: + {exact(change.after)}"
    if change.after is ABSENT:
        return f"{change.path}: - {exact(change.before)}"
    return f"{change.path}: {exact(change.before)} -> {exact(change.after)}"
