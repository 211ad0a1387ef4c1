"""An analysis in words, as ``reconciler plan`` tells it."""

from __future__ import annotations

from reconciler.delivery.explain import describe
from reconciler.review import narrate
from reconciler.review.model import SpecChangeKind
from reconciler.specs.models import SPEC_ADAPTER
from reconciler.specs.models.analysis import Analysis

ANALYSIS = {
    "steps": [10, 25, 50],
    "interval": "1m",
    "failureLimit": 1,
    "metrics": [
        {"name": "request-success-rate", "min": 0.99},
        {"name": "latency-p99", "max": 0.3},
    ],
}


def test_the_issue_example_reads_as_one_sentence():
    text = describe(Analysis.model_validate(ANALYSIS), "s3://models/v2/")
    assert text == (
        "canary s3://models/v2/ at 10%, then 25%, 50%, promoted if request success rate >= 99% "
        "and p99 latency <= 300 ms for 3 checks 1m apart "
        "(rolled back after 2 failed or inconclusive checks)"
    )


def test_custom_metrics_hold_and_a_single_step():
    analysis = Analysis.model_validate(
        {
            "steps": [20],
            "interval": "30s",
            "failureLimit": 0,
            "onEnd": "hold",
            "metrics": [{"name": "ctr", "query": "sum(ctr)", "min": 0.02, "max": 0.5}],
        }
    )
    assert describe(analysis, "v3") == (
        "canary v3 at 20%, held at the last step if ctr >= 0.02 and <= 0.5 for 1 check after 30s "
        "(rolled back after 1 failed or inconclusive check)"
    )


def test_plan_tells_a_new_spec_its_analysis():
    spec = SPEC_ADAPTER.validate_python(
        {
            "apiVersion": "mlops/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "scorer"},
            "spec": {
                "model": {"uri": "s3://models/v1/"},
                "image": "server:1",
                "canary": {"model": {"uri": "s3://models/v2/"}, "analysis": ANALYSIS},
            },
        }
    )
    story = narrate.Story(SpecChangeKind.ADDED, None, spec, (), objects=("x",))  # type: ignore[arg-type]
    lines = narrate.happens(story)
    assert lines[1] == "canary: " + describe(spec.spec.canary.analysis, "s3://models/v2/")
