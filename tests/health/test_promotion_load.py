"""A promoted model that its InferenceService failed to load is not recorded as serving."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome, assemble

FIXTURES = Path(__file__).parent / "fixtures"
KEY = SpecKey("ModelDeployment", "ml-team", "fraud-detector")
NOW = "2024-06-01T12:00:00Z"
PROMOTED = {
    "run": "train-fraud-39907657",
    "uri": "s3://models/fraud/v3",
    "metrics": {"accuracy": 0.96},
}


def _isvc(fixture: str) -> dict:
    return yaml.safe_load((FIXTURES / f"{fixture}.yaml").read_text())


def _status(fixture: str, extra: dict) -> object:
    outcome = Outcome(
        KEY,
        "a" * 40,
        objects=(_isvc(fixture),),
        current=frozenset({"fraud-detector"}),
        extra=copy.deepcopy(extra),
    )
    return assemble(outcome, NOW)


def test_failed_load_behind_a_ready_service_keeps_the_promotion_pending() -> None:
    status = _status("inferenceservice-blocked-by-failed-load", {"model": PROMOTED})

    assert str(status.phase) == "Degraded"
    assert status.message.startswith("new model failed to load, the previous one still serves")
    model = status.extra["model"]
    assert model["promotion"] == "PendingLoad"
    assert model["promotionMessage"] == (
        "ModelLoadFailed: Failed to load model: file not found at s3://models/fraud/v3"
    )
    # What was asked for stays visible, so the lineage says which run is waiting.
    assert model["run"] == PROMOTED["run"]
    assert b"PendingLoad" in status.to_yaml()


def test_failed_load_with_nothing_serving_is_failed_and_pending() -> None:
    status = _status("inferenceservice-model-load-failed", {"model": PROMOTED})

    assert str(status.phase) == "Failed"
    assert status.extra["model"]["promotion"] == "PendingLoad"


def test_with_a_canary_the_canary_model_is_the_one_pending() -> None:
    canary = {"run": "train-fraud-a6cf123a", "uri": "s3://models/fraud/v4", "trafficPercent": 10}
    status = _status(
        "inferenceservice-blocked-by-failed-load", {"model": PROMOTED, "canary": canary}
    )

    assert "promotion" not in status.extra["model"]
    assert status.extra["canary"]["promotion"] == "PendingLoad"


@pytest.mark.parametrize("fixture", ["inferenceservice-ready", "inferenceservice-progressing"])
def test_a_load_that_did_not_fail_adds_nothing(fixture: str) -> None:
    status = _status(fixture, {"model": PROMOTED})

    assert status.extra["model"] == PROMOTED
