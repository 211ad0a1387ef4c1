"""What a metric asks Prometheus, and how an answer becomes one number or an inconclusive why."""

from __future__ import annotations

import json

import pytest

from reconciler.delivery.prometheus import _value, load_token
from reconciler.delivery.provider import MetricsError
from reconciler.delivery.queries import render_query, revision, template
from reconciler.errors import ConfigError
from reconciler.specs.models import SPEC_ADAPTER
from reconciler.specs.models.analysis import BUILTIN_QUERIES, Metric, placeholders


def serving(runtime: str):
    spec = {
        "model": {"uri": "s3://m/1"},
        "runtime": runtime,
        "format": "sklearn",
        "image": "server:1",
        "canary": {"model": {"uri": "s3://m/2"}, "trafficPercent": 10},
    }
    return SPEC_ADAPTER.validate_python(
        {
            "apiVersion": "mlops/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "scorer", "namespace": "ml"},
            "spec": spec,
        }
    )


def test_every_builtin_has_a_query_per_runtime_with_known_placeholders():
    for name, per_runtime in BUILTIN_QUERIES.items():
        assert set(per_runtime) == {"deployment", "kserve", "seldon"}, name
        for text in per_runtime.values():
            assert set(placeholders(text)) == {"namespace", "revision", "interval"} | (
                {"name"} if "deployment_name" in text else set()
            )


def test_a_builtin_rendered_for_the_deployment_runtime():
    metric = Metric(name="request-success-rate", min=0.99)
    values = {"namespace": "ml", "name": "scorer", "revision": "scorer-canary", "interval": "1m"}
    assert render_query(template(metric, "deployment"), values) == (
        'sum(rate(http_requests_total{namespace="ml",pod=~"scorer-canary-.+",code!~"5.."}[1m]))'
        ' / sum(rate(http_requests_total{namespace="ml",pod=~"scorer-canary-.+"}[1m]))'
    )


def test_the_canary_revision_per_runtime():
    assert revision(serving("deployment"), []) == "scorer-canary"
    assert revision(serving("seldon"), []) == "canary"
    isvc = {
        "kind": "InferenceService",
        "status": {
            "components": {"predictor": {"latestCreatedRevision": "scorer-predictor-00002"}}
        },
    }
    assert revision(serving("kserve"), [isvc]) == "scorer-predictor-00002"
    assert revision(serving("kserve"), [{"kind": "InferenceService"}]) is None


def answer(result_type: str, result, status: str = "success") -> bytes:
    return json.dumps(
        {"status": status, "data": {"resultType": result_type, "result": result}}
    ).encode()


def test_one_sample_or_a_scalar_is_the_value():
    assert _value(200, answer("vector", [{"metric": {}, "value": [1, "0.995"]}])) == 0.995
    assert _value(200, answer("scalar", [1, "3"])) == 3.0


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (200, answer("vector", []), "no data"),
        (200, answer("vector", [{"value": [1, "NaN"]}]), "no data (the query gave nan)"),
        (
            200,
            answer("vector", [{"value": [1, "1"]}, {"value": [1, "2"]}]),
            "2 series, not one: aggregate the query",
        ),
        (200, answer("matrix", []), "a matrix result, not a number"),
        (
            400,
            json.dumps({"status": "error", "error": "parse error"}).encode(),
            "Prometheus answered HTTP 400: parse error",
        ),
        (502, b"<html>bad gateway</html>", "Prometheus answered HTTP 502 without a JSON body"),
    ],
)
def test_anything_else_is_inconclusive_with_a_reason(status, body, why):
    with pytest.raises(MetricsError) as raised:
        _value(status, body)
    assert str(raised.value) == why


def test_token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cr3t\n")
    assert load_token(path) == "s3cr3t"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_token(path)
