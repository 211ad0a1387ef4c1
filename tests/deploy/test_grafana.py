"""deploy/grafana-dashboard.json queries only metrics the reconciler exports."""

from __future__ import annotations

import json
import re

from reconciler.metrics import Metrics
from tests.deploy.conftest import DEPLOY

DASHBOARD = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "irate",
    "histogram_quantile", "label_values", "job", "le",
}  # fmt: skip
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported() -> tuple[set[str], set[str]]:
    """Series names and label names of every metric in reconciler/metrics.py."""
    names, labels = set(), set()
    for collector in Metrics().registry._collector_to_names:  # every metric, children or not
        for metric in collector.describe():
            names |= {metric.name + suffix for suffix in _SUFFIXES[metric.type]}
        labels |= set(getattr(collector, "_labelnames", ()))
    return names, labels


def expressions() -> list[str]:
    found = [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]
    found += [v["query"] for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
    return found


def test_every_expression_names_only_exported_metrics():
    names, labels = exported()
    assert len(expressions()) >= 10
    for expr in expressions():
        # Without strings, label matchers' values, ranges and numbers: names and words remain.
        bare = re.sub(r'"[^"]*"|\[[^\]]*\]|\b\d+(\.\d+)?\b', " ", expr)
        words = set(re.findall(r"[A-Za-z_:][\w:]*", bare))
        metrics = {word for word in words if word.startswith("reconciler_")}
        assert metrics, f"no reconciler metric in {expr!r}"
        assert metrics <= names, f"{sorted(metrics - names)} not in reconciler/metrics.py"
        unknown = words - metrics - PROMQL_WORDS - labels
        assert not unknown, f"{expr!r}: {sorted(unknown)}"


def test_the_dashboard_shows_what_operators_ask_for():
    text = " ".join(expressions())
    for metric in (
        "reconciler_reconcile_duration_seconds_bucket",
        "reconciler_queue_depth",
        "reconciler_api_writes_total",
        "reconciler_api_errors_total",
        "reconciler_prune_guard_held",
        "reconciler_specs",
    ):
        assert metric in text
    titles = {panel["title"] for panel in DASHBOARD["panels"]}
    assert {"Push to live", "Specs per phase", "Prune guard", "Queue depth"} <= titles
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
