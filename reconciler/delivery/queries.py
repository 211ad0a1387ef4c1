"""The PromQL a metric asks for one canary: its template with the placeholders filled in; pure.

``{{revision}}`` names the canary's workload as the runtime's own metrics label it: the canary
Deployment (deployment runtime), the ``canary`` predictor (Seldon), or the predictor's latest
revision, read from the live InferenceService (KServe), since KServe names revisions itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.specs.models import ModelDeployment
from reconciler.specs.models.analysis import BUILTIN_QUERIES, PLACEHOLDER, Metric

SELDON_CANARY = "canary"  # the canary predictor's name (reconciler.render.seldon)


def template(metric: Metric, runtime: str) -> str:
    return metric.query if metric.query is not None else BUILTIN_QUERIES[metric.name][runtime]


def revision(spec: ModelDeployment, live: Sequence[Mapping[str, Any]]) -> str | None:
    """The canary's workload as metrics name it; None while KServe has not named it yet."""
    name = spec.metadata.name
    runtime = spec.spec.runtime
    if runtime == "deployment":
        return f"{name}-canary"
    if runtime == "seldon":
        return SELDON_CANARY
    for obj in live:
        if obj.get("kind") == "InferenceService":
            components = (obj.get("status") or {}).get("components") or {}
            latest = (components.get("predictor") or {}).get("latestCreatedRevision")
            return str(latest) if latest else None
    return None


def render_query(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``{{placeholder}}`` replaced (the spec model allows known ones only)."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
