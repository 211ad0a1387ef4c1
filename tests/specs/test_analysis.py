"""``canary.analysis``: every rule reported at its file, line and field; a valid one loads."""

from __future__ import annotations

import pytest

from reconciler.specs.loader import load_directory
from reconciler.specs.models import ModelDeployment
from reconciler.specs.rules import gpu_demand
from tests.specs.conftest import Writer

HEAD = """\
apiVersion: mlops/v1alpha1
kind: ModelDeployment
metadata:
  name: scorer
spec:
  model: {uri: s3://models/v1/}
  image: registry.example.com/serve:1
  replicas: 4
  canary:
    model: {uri: s3://models/v2/}
"""
ANALYSIS = """\
    analysis:
      steps: [10, 25, 50]
      interval: 1m
      metrics:
        - name: request-success-rate
          min: 0.99
        - name: latency-p99
          max: 0.3
        - name: prediction-mean
          query: avg(prediction_mean{namespace="{{namespace}}", revision="{{revision}}"})
          min: 0.4
          max: 0.6
"""


def problems(write_repo: Writer, text: str) -> list[tuple[int, str, str]]:
    result = load_directory(write_repo({"m.yaml": text}))
    return [(p.line, p.field, p.message) for p in result.problems]


def test_a_canary_with_analysis_loads(write_repo: Writer) -> None:
    result = load_directory(write_repo({"m.yaml": HEAD + ANALYSIS}))
    assert result.problems == ()
    spec = result.specs[0].spec
    assert isinstance(spec, ModelDeployment) and spec.spec.canary is not None
    analysis = spec.spec.canary.analysis
    assert analysis is not None
    assert (analysis.steps, analysis.interval_seconds, analysis.failure_limit) == (
        [10, 25, 50],
        60,
        1,
    )
    assert analysis.on_end == "promote"
    assert spec.spec.canary.first_percent == 10


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("steps: [10, 25, 50]", "steps: [10, 50, 25]"),
            (12, "spec.canary.analysis.steps", "steps must increase: step 3 (25) follows 50"),
            id="steps-decrease",
        ),
        pytest.param(
            ("steps: [10, 25, 50]", "steps: [0, 50]"),
            (12, "spec.canary.analysis.steps", "step 1 (0) must be a percentage from 1 to 100"),
            id="step-zero",
        ),
        pytest.param(
            ("interval: 1m", "interval: soon"),
            (
                13,
                "spec.canary.analysis.interval",
                "'soon' is not a duration such as 90s, 30m or 2h",
            ),
            id="interval",
        ),
        pytest.param(
            ("- name: latency-p99\n          max: 0.3", "- name: latency-p50\n          max: 0.3"),
            (
                17,
                "spec.canary.analysis.metrics[1]",
                "'latency-p50' is not a built-in metric (request-success-rate, latency-p99): "
                "give it a query",
            ),
            id="unknown-builtin",
        ),
        pytest.param(
            ("min: 0.4\n          max: 0.6", "min: 0.7\n          max: 0.6"),
            (19, "spec.canary.analysis.metrics[2]", "min 0.7 is above max 0.6"),
            id="min-above-max",
        ),
        pytest.param(
            ('revision="{{revision}}"', 'model="{{model}}"'),
            (
                20,
                "spec.canary.analysis.metrics[2].query",
                "unknown placeholder {{model}} (known: {{namespace}}, {{name}}, {{revision}}, "
                "{{interval}})",
            ),
            id="unknown-placeholder",
        ),
        pytest.param(
            ("          max: 0.3\n", ""),
            (17, "spec.canary.analysis.metrics[1]", "a metric needs min, max or both"),
            id="no-threshold",
        ),
    ],
)
def test_a_broken_analysis_is_reported_at_its_field(
    write_repo: Writer, change: tuple[str, str], expected: tuple[int, str, str]
) -> None:
    text = HEAD + ANALYSIS.replace(*change)
    assert problems(write_repo, text) == [expected]


def test_traffic_percent_and_analysis_are_exclusive(write_repo: Writer) -> None:
    both = HEAD + "    trafficPercent: 10\n" + ANALYSIS
    neither = HEAD
    message = "set exactly one of trafficPercent and analysis"
    assert problems(write_repo, both) == [(11, "spec.canary.trafficPercent", message)]
    assert problems(write_repo, neither) == [(9, "spec.canary", message)]


def test_gpu_demand_counts_the_canary_at_its_last_step(write_repo: Writer) -> None:
    text = HEAD.replace("  replicas: 4\n", "  replicas: 4\n  resources: {gpu: 1}\n") + ANALYSIS
    spec = load_directory(write_repo({"m.yaml": text})).specs[0].spec
    demand = gpu_demand(spec)
    assert demand is not None
    # 50% of 4 replicas is 2 canary pods beside the 4 stable ones.
    assert demand.working == "(4 replicas + 2 canary) x 1 GPU = 6"
