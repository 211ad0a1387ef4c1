"""``canary.analysis``: progressive delivery of a ModelDeployment's canary (docs/progressive-delivery.md).

Traffic to the canary steps through ``steps`` (percentages); ``interval`` after each step the
``metrics`` are queried and each value checked against its ``min``/``max``. All passing moves to
the next step, and past the last one the canary is promoted (``onEnd: promote``) or kept at the
last step (``onEnd: hold``). A failing or inconclusive check (no data, a query error) keeps the
weight and counts against ``failureLimit``; one more than that rolls the canary back.

A metric is a built-in by name (``BUILTIN_QUERIES``, one PromQL template per runtime) or any
PromQL ``query`` template with ``{{namespace}}``, ``{{name}}``, ``{{revision}}`` and
``{{interval}}`` placeholders. The running side of this lives in ``reconciler.delivery``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from reconciler.specs.models.common import Strict, duration_seconds

SUCCESS_RATE = "request-success-rate"
LATENCY_P99 = "latency-p99"
PLACEHOLDERS = ("namespace", "name", "revision", "interval")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
METRIC_NAME = re.compile(r"[a-z][a-z0-9-]*")

# The canary's series per runtime, as each one's own metrics name them. ``{{revision}}`` is the
# canary's workload there (reconciler.delivery.runner.revision): the canary Deployment of the
# deployment runtime (pods <revision>-<hash>, Kubernetes service discovery's ``pod`` label), the
# Seldon predictor ``canary``, and the KServe predictor's latest revision (Knative's queue-proxy
# metrics). The deployment runtime has no standard server, so it assumes the conventional
# ``http_requests_total{code}`` counter and ``http_request_duration_seconds`` histogram.
_DEPLOYMENT = 'namespace="{{namespace}}",pod=~"{{revision}}-.+"'
_SELDON = 'namespace="{{namespace}}",deployment_name="{{name}}",predictor_name="{{revision}}"'
_KSERVE = 'namespace_name="{{namespace}}",revision_name="{{revision}}"'
BUILTIN_QUERIES: dict[str, dict[str, str]] = {
    SUCCESS_RATE: {
        "deployment": (
            f'sum(rate(http_requests_total{{{_DEPLOYMENT},code!~"5.."}}[{{{{interval}}}}])) / '
            f"sum(rate(http_requests_total{{{_DEPLOYMENT}}}[{{{{interval}}}}]))"
        ),
        "seldon": (
            "sum(rate(seldon_api_executor_server_requests_seconds_count"
            f'{{{_SELDON},code!~"5.."}}[{{{{interval}}}}])) / '
            "sum(rate(seldon_api_executor_server_requests_seconds_count"
            f"{{{_SELDON}}}[{{{{interval}}}}]))"
        ),
        "kserve": (
            f'sum(rate(revision_request_count{{{_KSERVE},response_code_class!="5xx"}}'
            "[{{interval}}])) / "
            f"sum(rate(revision_request_count{{{_KSERVE}}}[{{{{interval}}}}]))"
        ),
    },
    LATENCY_P99: {
        "deployment": (
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
            f"{{{_DEPLOYMENT}}}[{{{{interval}}}}])))"
        ),
        "seldon": (
            "histogram_quantile(0.99, sum by (le) (rate("
            f"seldon_api_executor_server_requests_seconds_bucket{{{_SELDON}}}"
            "[{{interval}}])))"
        ),
        # Knative reports latencies in milliseconds; thresholds are in seconds everywhere.
        "kserve": (
            "histogram_quantile(0.99, sum by (le) (rate(revision_request_latencies_bucket"
            f"{{{_KSERVE}}}[{{{{interval}}}}]))) / 1000"
        ),
    },
}


def placeholders(query: str) -> list[str]:
    """The placeholder names a query template uses, in order."""
    return PLACEHOLDER.findall(query)


class Metric(Strict):
    name: str = Field(
        description="a built-in (request-success-rate, latency-p99) or a name for the query"
    )
    query: str | None = Field(
        default=None,
        description="PromQL template with {{namespace}}, {{name}}, {{revision}}, {{interval}}; "
        "unset: the built-in of this name for the spec's runtime",
    )
    min: float | None = Field(default=None, description="the value must be at least this")
    max: float | None = Field(default=None, description="the value must be at most this")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not METRIC_NAME.fullmatch(value) or len(value) > 63:
            raise ValueError(f"metric name {value!r} must match [a-z][a-z0-9-]* (63 at most)")
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("query must not be empty")
        unknown = [name for name in placeholders(value) if name not in PLACEHOLDERS]
        if unknown:
            known = ", ".join("{{" + name + "}}" for name in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{{{unknown[0]}}}}} (known: {known})")
        return value

    @model_validator(mode="after")
    def _checks(self) -> Metric:
        if self.query is None and self.name not in BUILTIN_QUERIES:
            raise ValueError(
                f"{self.name!r} is not a built-in metric ({', '.join(BUILTIN_QUERIES)}): "
                "give it a query"
            )
        if self.min is None and self.max is None:
            raise ValueError("a metric needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Analysis(Strict):
    steps: list[StrictInt] = Field(
        min_length=1, description="traffic percentages to the canary, one per check, increasing"
    )
    interval: str = Field(description="time between checks, such as 30s, 1m or 5m")
    metrics: list[Metric] = Field(min_length=1)
    failure_limit: int = Field(
        default=1,
        ge=0,
        le=100,
        strict=True,
        description="failed or inconclusive checks tolerated; one more rolls the canary back",
    )
    on_end: Literal["promote", "hold"] = Field(
        default="promote",
        description="after the last step passes: promote (the canary becomes the primary, in "
        "status) or hold (stay at the last step until the spec changes)",
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        for index, weight in enumerate(value):
            if not 1 <= weight <= 100:
                raise ValueError(f"step {index + 1} ({weight}) must be a percentage from 1 to 100")
            if index and weight <= value[index - 1]:
                raise ValueError(
                    f"steps must increase: step {index + 1} ({weight}) follows {value[index - 1]}"
                )
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError("interval must be longer than 0s")
        return value

    @field_validator("metrics")
    @classmethod
    def _unique(cls, value: list[Metric]) -> list[Metric]:
        names = [metric.name for metric in value]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"metric {doubled[0]!r} is listed twice")
        return value

    @property
    def interval_seconds(self) -> int:
        return duration_seconds(self.interval)
