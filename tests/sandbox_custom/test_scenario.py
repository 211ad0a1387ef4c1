"""The ``services:`` scenario rules that decide how simulated model servers end."""

from __future__ import annotations

import pytest

from reconciler_sandbox import errors, scenario


def test_first_matching_service_rule_wins() -> None:
    rules = scenario.parse(
        {
            "services": [
                {"match": "iris*", "model": "s3://broken/*", "outcome": "Failed", "message": "bad"},
                {"namespace": "prod", "outcome": "Ready"},
            ]
        }
    )
    failed = rules.service_rule("ml", "iris-v2", ["s3://ok/", "s3://broken/m/"])
    assert (failed.outcome, failed.message) == ("Failed", "bad")
    assert rules.service_rule("ml", "iris", ["s3://ok/"]) is scenario.DEFAULT_SERVICE_RULE
    assert rules.service_rule("prod", "iris", ["s3://ok/"]).outcome == "Ready"


@pytest.mark.parametrize(
    "rule",
    [{"outcome": "Succeeded"}, {"duration": 1}, "iris"],
)
def test_malformed_service_rules_are_refused(rule: object) -> None:
    with pytest.raises(errors.StatusError) as caught:
        scenario.parse({"services": [rule]})
    assert caught.value.code == 400


def test_scenarios_without_services_still_parse() -> None:
    rules = scenario.parse({"jobs": [{"match": "x"}], "deployments": {"delay": 0.1}})
    assert rules.services == () and rules.deployment_delay == 0.1
