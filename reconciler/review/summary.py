"""Lines every output format shares: the revisions compared and the counts."""

from __future__ import annotations

from reconciler.review.model import Review, Revision, SpecChangeKind

COUNTED = (
    SpecChangeKind.ADDED,
    SpecChangeKind.CHANGED,
    SpecChangeKind.REMOVED,
    SpecChangeKind.DRIFTED,
    SpecChangeKind.INVALID,
)


def revision_label(revision: Revision) -> str:
    if revision.commit is None or revision.ref == revision.commit:
        return revision.short
    return f"{revision.ref} ({revision.short})"


def risk_count(review: Review) -> int:
    return sum(len(spec.risks) for spec in review.shown)


def headline(review: Review) -> str:
    if not review.has_changes and not review.has_errors:
        return "no changes"
    counts = [f"{review.count(kind)} {kind}" for kind in COUNTED if review.count(kind)]
    parts = [", ".join(counts) or "no changes"]
    risks = risk_count(review)
    if risks:
        parts.append(f"{risks} risk{'s' if risks != 1 else ''}")
    errors = len(review.errors) + len(review.cluster_errors)
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return "; ".join(parts)
