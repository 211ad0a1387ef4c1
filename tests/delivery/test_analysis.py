"""The analysis state machine, table-driven: each row a state, readings and the state after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.delivery.analysis import (
    AnalysisState,
    Reading,
    Stage,
    Verdict,
    advance,
    begin,
    due_at,
    is_due,
    judge,
    summary,
)
from reconciler.render.common import CanaryTraffic
from reconciler.specs.models.analysis import Analysis, Metric

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=1)


def plan(**fields) -> Analysis:
    body = {
        "steps": [10, 25, 50],
        "interval": "1m",
        "metrics": [{"name": "request-success-rate", "min": 0.99}],
        **fields,
    }
    return Analysis.model_validate(body)


PASS = (Reading("request-success-rate", Verdict.PASS, 0.995),)
FAIL = (Reading("request-success-rate", Verdict.FAIL, 0.9, "below min 0.99"),)
UNKNOWN = (Reading("request-success-rate", Verdict.INCONCLUSIVE, None, "no data"),)


def at(step: int, weight: int, failures: int = 0) -> AnalysisState:
    return AnalysisState(
        "h", Stage.PROGRESSING, step, weight, failures, "t", "2025-03-01T12:00:00Z"
    )


# (name, analysis, state before, readings, (stage, step, weight, failures) after)
CASES = [
    ("pass advances", plan(), at(1, 10), PASS, (Stage.PROGRESSING, 2, 25, 0)),
    ("pass at the last step promotes", plan(), at(3, 50), PASS, (Stage.PROMOTED, 3, 100, 0)),
    (
        "hold at the end keeps the last weight",
        plan(onEnd="hold"),
        at(3, 50),
        PASS,
        (Stage.HELD, 3, 50, 0),
    ),
    ("a failure within the limit holds", plan(), at(2, 25), FAIL, (Stage.PROGRESSING, 2, 25, 1)),
    (
        "inconclusive counts like a failure",
        plan(),
        at(2, 25),
        UNKNOWN,
        (Stage.PROGRESSING, 2, 25, 1),
    ),
    (
        "one more than the limit rolls back",
        plan(),
        at(2, 25, failures=1),
        FAIL,
        (Stage.ROLLED_BACK, 2, 0, 2),
    ),
    (
        "limit 0 rolls back at the first failure",
        plan(failureLimit=0),
        at(1, 10),
        UNKNOWN,
        (Stage.ROLLED_BACK, 1, 0, 1),
    ),
    (
        "failures are not forgiven by a pass",
        plan(),
        at(1, 10, failures=1),
        PASS,
        (Stage.PROGRESSING, 2, 25, 1),
    ),
]


@pytest.mark.parametrize(("analysis", "before", "readings", "after"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_advance(analysis, before, readings, after):
    state = advance(before, analysis, readings, LATER)
    assert (state.stage, state.step, state.weight, state.failures) == after
    check = state.checks[-1]
    assert (check.step, check.weight, check.at) == (
        before.step,
        before.weight,
        "2025-03-01T12:01:00Z",
    )
    assert state.since == check.at


def test_a_check_fails_when_any_metric_fails_before_inconclusive():
    readings = (*PASS, *UNKNOWN, *FAIL)
    assert advance(at(1, 10), plan(), readings, LATER).checks[-1].verdict is Verdict.FAIL
    assert advance(at(1, 10), plan(), (*PASS, *UNKNOWN), LATER).checks[-1].verdict is (
        Verdict.INCONCLUSIVE
    )


@pytest.mark.parametrize(
    ("metric", "value", "verdict"),
    [
        ({"min": 0.99}, 0.995, Verdict.PASS),
        ({"min": 0.99}, 0.99, Verdict.PASS),
        ({"min": 0.99}, 0.98, Verdict.FAIL),
        ({"max": 0.3}, 0.31, Verdict.FAIL),
        ({"min": 0.4, "max": 0.6}, 0.5, Verdict.PASS),
        ({"min": 0.4, "max": 0.6}, 0.7, Verdict.FAIL),
        ({"min": 0.99}, None, Verdict.INCONCLUSIVE),
        ({"min": 0.99}, float("nan"), Verdict.INCONCLUSIVE),
    ],
)
def test_judge(metric, value, verdict):
    spec = Metric.model_validate({"name": "request-success-rate", **metric})
    assert judge(spec, value).verdict is verdict


def test_first_check_is_due_one_interval_after_the_start():
    state = begin("h", plan(), T0)
    assert (state.stage, state.step, state.weight) == (Stage.PROGRESSING, 1, 10)
    assert due_at(state, plan()) == LATER
    assert not is_due(state, plan(), LATER - timedelta(seconds=1))
    assert is_due(state, plan(), LATER)


@pytest.mark.parametrize("stage", [Stage.PROMOTED, Stage.ROLLED_BACK, Stage.HELD])
def test_an_ended_analysis_is_never_due(stage):
    state = AnalysisState("h", stage, 3, 50, 0, "t", "2025-03-01T12:00:00Z")
    assert due_at(state, plan()) is None


def test_traffic_of_each_stage():
    progressing = at(2, 25)
    assert progressing.traffic == CanaryTraffic(25)
    rolled_back = advance(at(2, 25, failures=1), plan(), FAIL, LATER)
    assert rolled_back.traffic == CanaryTraffic(0)
    promoted = advance(at(3, 50), plan(), PASS, LATER)
    assert promoted.traffic == CanaryTraffic(100, promoted=True)


def test_state_round_trips_through_its_status_record():
    state = begin("h", plan(), T0)
    state = advance(state, plan(), PASS, LATER)
    state = advance(state, plan(), FAIL, LATER + timedelta(minutes=1))
    assert AnalysisState.from_dict(state.to_dict()) == state
    record = state.to_dict()
    assert record["checks"][1] == {
        "at": "2025-03-01T12:02:00Z",
        "step": 2,
        "weight": 25,
        "verdict": "Fail",
        "metrics": {
            "request-success-rate": {"verdict": "Fail", "value": 0.9, "reason": "below min 0.99"}
        },
    }


def test_summary_names_the_weight_and_the_step():
    assert summary(at(2, 25), plan()) == (
        "canary at 25% (step 2/3); 0 of 1 failed checks tolerated so far"
    )
    rolled_back = advance(at(2, 25, failures=1), plan(), FAIL, LATER)
    assert summary(rolled_back, plan()).startswith("canary rolled back at step 2/3 (25%)")
