"""The canary analysis as a pure state machine: step -> check -> advance / hold / roll back /
promote. No clock and no I/O: the time and the metric readings are handed in.

The state is what the spec's status file records under ``analysis`` (``to_dict``/``from_dict``),
so ``git log -p`` on the status branch shows every check, and a restarted or newly elected
reconciler resumes at the step it finds there.

Rules (docs/progressive-delivery.md):
- A new analysis (a new canary or analysis block, told by ``canaryHash``) starts at the first
  step; the first check is due ``interval`` after that, and each next one ``interval`` after the
  check before it.
- A check passes when every metric passes. A pass moves to the next step; past the last one the
  canary is Promoted (``onEnd: promote``) or Held at the last step (``onEnd: hold``).
- A metric outside its min/max fails; no value (no data, a query error, no provider) is
  inconclusive. Either keeps the weight and adds one to ``failures``; once ``failures`` exceeds
  ``failureLimit`` the canary is RolledBack: no traffic, until its spec changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.render.common import CanaryTraffic
from reconciler.specs.models.analysis import Analysis, Metric

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_DIGITS = 6  # significant digits of a value kept in status: enough to read, stable to diff


class Stage(StrEnum):
    PROGRESSING = "Progressing"
    PROMOTED = "Promoted"
    HELD = "Held"  # the last step passed and onEnd is hold
    ROLLED_BACK = "RolledBack"


class Verdict(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


_WORST = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.PASS)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Reading:
    """One metric of one check: its value (None when there was none) and verdict."""

    metric: str
    verdict: Verdict
    value: float | None = None
    reason: str = ""  # why it failed or was inconclusive

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": str(self.verdict)}
        if self.value is not None:
            data["value"] = self.value
        if self.reason:
            data["reason"] = self.reason
        return data

    @classmethod
    def from_dict(cls, metric: str, data: Mapping[str, Any]) -> Reading:
        value = data.get("value")
        return cls(
            metric,
            Verdict(data["verdict"]),
            None if value is None else float(value),
            str(data.get("reason") or ""),
        )


@dataclass(frozen=True)
class Check:
    at: str
    step: int  # 1-based, as people count steps
    weight: int
    verdict: Verdict
    readings: tuple[Reading, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "step": self.step,
            "weight": self.weight,
            "verdict": str(self.verdict),
            "metrics": {r.metric: r.to_dict() for r in self.readings},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        metrics = data.get("metrics") or {}
        return cls(
            str(data["at"]),
            int(data["step"]),
            int(data["weight"]),
            Verdict(data["verdict"]),
            tuple(Reading.from_dict(str(name), metrics[name]) for name in sorted(metrics)),
        )


@dataclass(frozen=True)
class AnalysisState:
    canary_hash: str  # which canary and analysis this is about: a new one starts over
    stage: Stage
    step: int  # 1-based index into the analysis' steps
    weight: int  # the canary's share of traffic now
    failures: int
    started_at: str
    since: str  # when the weight was set or the last check ran: the next check is due after
    checks: tuple[Check, ...] = ()

    @property
    def traffic(self) -> CanaryTraffic:
        """What the renderers serve for this state."""
        if self.stage is Stage.PROMOTED:
            return CanaryTraffic(100, promoted=True)
        return CanaryTraffic(self.weight)

    def to_dict(self) -> dict[str, Any]:
        return {
            "canaryHash": self.canary_hash,
            "phase": str(self.stage),
            "step": self.step,
            "weight": self.weight,
            "failures": self.failures,
            "startedAt": self.started_at,
            "since": self.since,
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisState:
        """Raises ValueError, KeyError or TypeError on a record that is not a state."""
        state = cls(
            canary_hash=str(data["canaryHash"]),
            stage=Stage(data["phase"]),
            step=int(data["step"]),
            weight=int(data["weight"]),
            failures=int(data["failures"]),
            started_at=str(data["startedAt"]),
            since=str(data["since"]),
            checks=tuple(Check.from_dict(check) for check in data.get("checks") or ()),
        )
        parse_time(state.since)
        return state


def begin(canary_hash: str, analysis: Analysis, now: datetime) -> AnalysisState:
    at = stamp(now)
    return AnalysisState(canary_hash, Stage.PROGRESSING, 1, analysis.steps[0], 0, at, at)


def due_at(state: AnalysisState, analysis: Analysis) -> datetime | None:
    """When the next check is due; None once the analysis has ended."""
    if state.stage is not Stage.PROGRESSING:
        return None
    return parse_time(state.since) + timedelta(seconds=analysis.interval_seconds)


def is_due(state: AnalysisState, analysis: Analysis, now: datetime) -> bool:
    due = due_at(state, analysis)
    return due is not None and now >= due


def judge(metric: Metric, value: float | None, reason: str = "") -> Reading:
    """A metric's verdict: inconclusive without a number, else within min and max or not."""
    if value is None or math.isnan(value) or math.isinf(value):
        return Reading(metric.name, Verdict.INCONCLUSIVE, None, reason or "no data")
    value = float(f"{value:.{_DIGITS}g}")
    if metric.min is not None and value < metric.min:
        return Reading(metric.name, Verdict.FAIL, value, f"below min {metric.min:g}")
    if metric.max is not None and value > metric.max:
        return Reading(metric.name, Verdict.FAIL, value, f"above max {metric.max:g}")
    return Reading(metric.name, Verdict.PASS, value)


def verdict_of(readings: Sequence[Reading]) -> Verdict:
    """Fail when any metric fails, else inconclusive when any is, else pass."""
    found = {reading.verdict for reading in readings}
    return next((verdict for verdict in _WORST if verdict in found), Verdict.INCONCLUSIVE)


def advance(
    state: AnalysisState, analysis: Analysis, readings: Sequence[Reading], now: datetime
) -> AnalysisState:
    """The state after one check with ``readings``, taken at ``now``."""
    verdict = verdict_of(readings)
    at = stamp(now)
    check = Check(at, state.step, state.weight, verdict, tuple(readings))
    state = replace(state, since=at, checks=(*state.checks, check))
    if verdict is Verdict.PASS:
        if state.step < len(analysis.steps):
            return replace(state, step=state.step + 1, weight=analysis.steps[state.step])
        if analysis.on_end == "promote":
            return replace(state, stage=Stage.PROMOTED, weight=100)
        return replace(state, stage=Stage.HELD)
    failures = state.failures + 1
    if failures > analysis.failure_limit:
        return replace(state, stage=Stage.ROLLED_BACK, weight=0, failures=failures)
    return replace(state, failures=failures)


def summary(state: AnalysisState, analysis: Analysis) -> str:
    """One line on where the analysis stands, for status messages."""
    total = len(analysis.steps)
    if state.stage is Stage.PROMOTED:
        return f"canary promoted after {len(state.checks)} checks"
    if state.stage is Stage.ROLLED_BACK:
        return (
            f"canary rolled back at step {state.step}/{total} ({analysis.steps[state.step - 1]}%) "
            f"after {state.failures} failed or inconclusive checks"
        )
    if state.stage is Stage.HELD:
        return f"canary held at {state.weight}% after passing every step"
    return (
        f"canary at {state.weight}% (step {state.step}/{total}); "
        f"{state.failures} of {analysis.failure_limit} failed checks tolerated so far"
    )
