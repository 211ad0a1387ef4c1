"""The ordered trials of a sweep, each a run named and hashed like any other training run.

A grid walks the product of the parameters in the order they are written (the last varies
fastest); a random sweep draws each parameter from a hash of (seed, draw, name), so the list
depends only on the spec, never on the Python version or the process. Either list is a prefix
of the longer one, so raising ``maxTrials`` keeps every trial already run.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.render.identity import canonical_json, run_hash, run_name
from reconciler.specs.models import TrainingJob
from reconciler.specs.models.sweep import Range, Sweep, range_points, space_size

ParameterValue = bool | int | float | str
# Draws without a new point before a random sweep over a small discrete space gives up.
_DRAWS_PER_TRIAL = 20


@dataclass(frozen=True)
class Trial:
    """One point of the search space and the run that tries it."""

    index: int  # position in the sweep's list, from 0
    parameters: Mapping[str, ParameterValue]
    sweep_id: str
    hash: str
    name: str  # the run's object name, <spec name>-<hash8>
    objective: Mapping[str, str]  # {metric, direction}: recorded on the run for promotion

    @property
    def hyperparameters(self) -> dict[str, str]:
        """The trial's values as the container gets them, merged over spec.hyperparameters."""
        return {name: hyperparameter_text(value) for name, value in self.parameters.items()}

    def annotation(self) -> dict[str, Any]:
        """What the run records about its trial (``mlops/trial``), so that history and
        promotion read it from the cluster without the spec that made it."""
        return {
            "index": self.index,
            "parameters": dict(self.parameters),
            "objective": dict(self.objective),
        }


@dataclass(frozen=True)
class SweepPlan:
    """A spec's sweep: its id, its trials in order, and how many points the space has."""

    id: str
    trials: tuple[Trial, ...]
    space: int | None  # None: a continuous range, never exhausted

    @property
    def exhaustive(self) -> bool:
        """True when the trials cover the whole space (the sweep ends 'all done')."""
        return self.space is not None and len(self.trials) >= self.space


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()[:8]


def sweep_id(training: TrainingJob) -> str:
    """8 hex digits over what defines the sweep's trials: the run they share, the algorithm,
    seed and search space, and the objective they are ranked by; maxTrials, parallelism and
    the goal only say how many run and when, so changing them keeps the sweep."""
    sweep = training.spec.sweep
    assert sweep is not None
    return _digest(
        {
            "run": run_hash(training),
            "algorithm": sweep.algorithm,
            "seed": sweep.seed,
            "parameters": sweep.model_dump(mode="json", by_alias=True)["parameters"],
            "objective": _objective(sweep),
        }
    )


def _objective(sweep: Sweep) -> dict[str, str]:
    return {"metric": sweep.objective.metric, "direction": sweep.objective.direction}


def hyperparameter_text(value: ParameterValue) -> str:
    """How a value reaches the container, as ``spec.hyperparameters`` does it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def trial_spec(training: TrainingJob, parameters: Mapping[str, ParameterValue]) -> TrainingJob:
    """``training`` with the trial's values merged over its hyperparameters."""
    body = training.spec
    merged = {**body.hyperparameters, **{k: hyperparameter_text(v) for k, v in parameters.items()}}
    return training.model_copy(update={"spec": body.model_copy(update={"hyperparameters": merged})})


def plan_sweep(training: TrainingJob) -> SweepPlan:
    """The trials of ``training``'s sweep, in the order they start."""
    sweep = training.spec.sweep
    assert sweep is not None
    ident = sweep_id(training)
    sizes = [space_size(space) for space in sweep.parameters.values()]
    space = None if any(size is None for size in sizes) else math.prod(s or 1 for s in sizes)
    wanted = sweep.max_trials or space or 0
    points = _grid(sweep) if sweep.algorithm == "grid" else _random(sweep, space)
    trials = []
    for index, parameters in enumerate(itertools.islice(points, wanted)):
        definition = run_hash(trial_spec(training, parameters))
        hash8 = _digest({"run": definition, "sweep": ident})
        trials.append(
            Trial(
                index=index,
                parameters=parameters,
                sweep_id=ident,
                hash=hash8,
                name=run_name(training.metadata.name, hash8),
                objective=_objective(sweep),
            )
        )
    return SweepPlan(ident, tuple(trials), space)


def _values(space: list[ParameterValue] | Range) -> list[ParameterValue]:
    return list(space) if isinstance(space, list) else list(range_points(space))


def _grid(sweep: Sweep) -> Iterator[dict[str, ParameterValue]]:
    names = list(sweep.parameters)
    for combination in itertools.product(*(_values(s) for s in sweep.parameters.values())):
        yield dict(zip(names, combination, strict=True))


def _uniform(seed: int | None, draw: int, name: str) -> float:
    """A number in [0, 1) fixed by (seed, draw, name)."""
    digest = hashlib.sha256(f"{seed}:{draw}:{name}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def _sample(space: list[ParameterValue] | Range, u: float) -> ParameterValue:
    if isinstance(space, list) or space.finite:
        values = _values(space)
        return values[min(int(u * len(values)), len(values) - 1)]
    if space.scale == "log":
        low, high = math.log(space.min), math.log(space.max)
        return float(f"{math.exp(low + u * (high - low)):.6g}")
    return float(f"{space.min + u * (space.max - space.min):.6g}")


def _random(sweep: Sweep, space: int | None) -> Iterator[dict[str, ParameterValue]]:
    """Distinct points drawn in order; a point drawn again is skipped, not run twice."""
    seen: set[bytes] = set()
    limit = min(sweep.max_trials or 0, space or sweep.max_trials or 0)
    for draw in range(limit * _DRAWS_PER_TRIAL):
        point = {
            name: _sample(values, _uniform(sweep.seed, draw, name))
            for name, values in sweep.parameters.items()
        }
        key = canonical_json(point)
        if key in seen:
            continue
        seen.add(key)
        yield point
        if len(seen) == limit:
            return
