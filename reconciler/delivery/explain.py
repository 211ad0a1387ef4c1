"""A canary analysis in words, for ``reconciler plan``; pure.

canary s3://models/v2/ at 10%, then 25%, 50%, promoted if request success rate >= 99% and
p99 latency <= 300 ms for 3 checks 1m apart (rolled back after 2 failed or inconclusive
checks)
"""

from __future__ import annotations

from reconciler.specs.models.analysis import LATENCY_P99, SUCCESS_RATE, Analysis, Metric

_WORDS = {SUCCESS_RATE: "request success rate", LATENCY_P99: "p99 latency"}


def describe(analysis: Analysis, canary: str) -> str:
    steps = [f"{weight}%" for weight in analysis.steps]
    then = f", then {', '.join(steps[1:])}" if len(steps) > 1 else ""
    checks = len(analysis.steps)
    ending = "promoted" if analysis.on_end == "promote" else "held at the last step"
    spacing = "1 check after" if checks == 1 else f"{checks} checks"
    apart = "" if checks == 1 else " apart"
    limit = analysis.failure_limit + 1
    plural = "" if limit == 1 else "s"
    return (
        f"canary {canary} at {steps[0]}{then}, {ending} if "
        f"{' and '.join(_condition(metric) for metric in analysis.metrics)} "
        f"for {spacing} {analysis.interval}{apart} "
        f"(rolled back after {limit} failed or inconclusive check{plural})"
    )


def _condition(metric: Metric) -> str:
    name = _WORDS.get(metric.name, metric.name)
    bounds = []
    if metric.min is not None:
        bounds.append(f">= {_value(metric, metric.min)}")
    if metric.max is not None:
        bounds.append(f"<= {_value(metric, metric.max)}")
    return f"{name} {' and '.join(bounds)}"


def _value(metric: Metric, value: float) -> str:
    """Built-ins in their natural units: a success ratio as percent, seconds as ms below 1 s."""
    if metric.name == SUCCESS_RATE and metric.query is None:
        return f"{value * 100:g}%"
    if metric.name == LATENCY_P99 and metric.query is None and value < 1:
        return f"{value * 1000:g} ms"
    if metric.name == LATENCY_P99 and metric.query is None:
        return f"{value:g} s"
    return f"{value:g}"
