"""The engine's side of canary analyses: state from status, queries at the edge, timed wake-ups.

The engine calls three hooks per serving spec it plans: ``step`` before rendering (the traffic to
render, after a check when one is due), ``report`` after (the state into the status extras), and
``inputs`` (what makes a settled spec worth planning again: a wake-up). A wake-up is a timer that
puts a trigger for the spec on the engine's queue when its next check is due.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from reconciler.delivery import analysis as machine
from reconciler.delivery.analysis import AnalysisState, Reading, Stage, parse_time
from reconciler.delivery.provider import MetricsError, MetricsProvider
from reconciler.delivery.queries import render_query, revision, template
from reconciler.desired import Desired
from reconciler.render.common import CanaryTraffic
from reconciler.specs.loaded import LoadedSpec, SpecKey
from reconciler.specs.models import ModelDeployment
from reconciler.specs.models.analysis import Analysis
from reconciler.status.model import SpecStatus

log = structlog.get_logger(__name__)

STATUS_FIELD = "analysis"
# Seconds before looking again when a check is due but the spec is not Ready: the canary must
# serve at its weight before its metrics mean anything.
NOT_READY_RETRY = 1.0
NO_PROVIDER = "no metrics provider: --prometheus-url is not set"

Wake = Callable[[SpecKey], None]


def canary_hash(spec: ModelDeployment) -> str:
    """What an analysis is about: the canary's model and its analysis block, as written."""
    assert spec.spec.canary is not None
    written = spec.spec.canary.model_dump(mode="json", by_alias=True)
    digest = hashlib.sha256(json.dumps(written, sort_keys=True).encode()).hexdigest()
    return digest[:12]


class Delivery:
    def __init__(
        self, provider: MetricsProvider | None, clock: Callable[[], str], wake: Wake
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.states: dict[SpecKey, AnalysisState] = {}
        self._wakes: dict[SpecKey, int] = {}
        self._timer = _Timer(self._woken)
        self._wake = wake

    def stop(self) -> None:
        self._timer.stop()

    def inputs(self, key: SpecKey) -> int:
        """Changes with every wake-up of ``key``, so a settled spec is planned again then."""
        return self._wakes.get(key, 0)

    def _woken(self, key: SpecKey) -> None:
        self._wakes[key] = self._wakes.get(key, 0) + 1
        self._wake(key)

    def step(
        self,
        loaded: LoadedSpec,
        previous: SpecStatus | None,
        live: Sequence[Mapping[str, Any]],
    ) -> CanaryTraffic | None:
        """The traffic to render for ``loaded``; runs a check first when one is due."""
        key, spec = loaded.key, loaded.spec
        if not isinstance(spec, ModelDeployment) or spec.spec.canary is None:
            self.states.pop(key, None)
            return None
        plan = spec.spec.canary.analysis
        if plan is None:
            self.states.pop(key, None)
            return None
        now = parse_time(self.clock())
        wanted = canary_hash(spec)
        state = self.states.get(key) or _recorded(previous)
        if state is None or state.canary_hash != wanted:
            state = machine.begin(wanted, plan, now)
            log.info("analysis_started", spec=str(key), weight=state.weight)
        self.states[key] = state
        if not machine.is_due(state, plan, now):
            due = machine.due_at(state, plan)
            if due is not None:
                self._timer.schedule(key, time.monotonic() + (due - now).total_seconds())
            return state.traffic
        if previous is None or str(previous.phase) != "Ready":
            self._timer.schedule(key, time.monotonic() + NOT_READY_RETRY)
            return state.traffic
        state = self.states[key] = self._check(spec, state, plan, live, now)
        if state.stage is Stage.PROGRESSING:
            self._timer.schedule(key, time.monotonic() + plan.interval_seconds)
        return state.traffic

    def _check(
        self,
        spec: ModelDeployment,
        state: AnalysisState,
        plan: Analysis,
        live: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> AnalysisState:
        canary = revision(spec, live)
        values = {
            "namespace": spec.metadata.namespace or "default",
            "name": spec.metadata.name,
            "revision": canary or "",
            "interval": plan.interval,
        }
        readings: list[Reading] = []
        for metric in plan.metrics:
            if self.provider is None:
                readings.append(machine.judge(metric, None, NO_PROVIDER))
                continue
            if canary is None:
                readings.append(machine.judge(metric, None, "the canary's revision is not known"))
                continue
            query = render_query(template(metric, spec.spec.runtime), values)
            try:
                readings.append(machine.judge(metric, self.provider.query(query)))
            except MetricsError as exc:
                readings.append(machine.judge(metric, None, str(exc)))
        after = machine.advance(state, plan, readings, now)
        log.info(
            "analysis_checked",
            spec=f"{spec.metadata.namespace}/{spec.metadata.name}",
            verdict=str(after.checks[-1].verdict),
            weight=after.weight,
            phase=str(after.stage),
        )
        return after

    def report(self, key: SpecKey, desired: Desired) -> Desired:
        """``desired`` with the analysis in its status extras; a promoted canary reported as
        the model served."""
        state = self.states.get(key)
        if state is None:
            return desired
        extra = dict(desired.extra)
        canary = extra.get("canary")
        if not isinstance(canary, Mapping) or canary.get("uri") is None:
            # Nothing to analyse until the canary's model resolves: start when it does.
            self.states.pop(key, None)
            return desired
        extra[STATUS_FIELD] = state.to_dict()
        if state.stage is Stage.PROMOTED:
            extra["model"] = {
                **{k: v for k, v in canary.items() if k != "trafficPercent"},
                "promotedFrom": "canary",
            }
            extra.pop("canary")
        else:
            extra["canary"] = {**canary, "trafficPercent": state.traffic.percent}
        return Desired(
            desired.objects,
            desired.retain,
            desired.waiting,
            extra,
            desired.served_runs,
            desired.rejections,
        )


def _recorded(previous: SpecStatus | None) -> AnalysisState | None:
    """The state a status file holds, as a restarted or newly elected reconciler finds it."""
    raw = None if previous is None else previous.extra.get(STATUS_FIELD)
    if not isinstance(raw, Mapping):
        return None
    try:
        return AnalysisState.from_dict(raw)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("analysis_status_unreadable", reason=str(exc))
        return None


class _Timer:
    """One thread calling ``fire(key)`` at the monotonic times scheduled; the earliest time per
    key wins until it fires."""

    def __init__(self, fire: Callable[[SpecKey], None]) -> None:
        self._fire = fire
        self._due: dict[SpecKey, float] = {}
        self._heap: list[tuple[float, SpecKey]] = []
        self._changed = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, key: SpecKey, at: float) -> None:
        with self._changed:
            if self._stopped or self._due.get(key, float("inf")) <= at:
                return
            self._due[key] = at
            heapq.heappush(self._heap, (at, key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)
                self._thread.start()
            self._changed.notify()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._changed.wait(wait)
                if self._stopped:
                    return
                at, key = heapq.heappop(self._heap)
                if self._due.get(key) != at:
                    continue  # replaced by an earlier time that already fired
                del self._due[key]
            self._fire(key)
