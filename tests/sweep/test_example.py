"""The example sweep's scenario rules name its trials, so `reconciler demo` runs it end to end
with a metric per trial (tests/cli/test_demo.py checks the best trial serves)."""

from __future__ import annotations

import yaml

from reconciler.commands.demo import EXAMPLES, SCENARIO
from reconciler.specs.loader import load_directory
from reconciler.sweep.trials import plan_sweep


def _trials() -> list[str]:
    result = load_directory(EXAMPLES)
    (loaded,) = [spec for spec in result.specs if spec.key.name == "tune-fraud"]
    return [trial.name for trial in plan_sweep(loaded.spec).trials]  # type: ignore[arg-type]


def test_the_scenario_reports_a_metric_for_every_trial_of_the_example() -> None:
    rules = yaml.safe_load(SCENARIO.read_text())["jobs"]
    matched = {rule["match"]: rule["message"] for rule in rules if rule["match"] in _trials()}
    assert list(matched) == _trials()
