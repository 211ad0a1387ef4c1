"""``spec.sweep`` of a TrainingJob: a hyperparameter search space and how to walk it.

Everything here is decidable from the document alone, so it is checked at load time with
file:line errors; the trials themselves follow from the spec in ``reconciler.sweep.trials``.
docs/sweeps.md is the user's reference.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

from reconciler.specs.models.common import Strict, fail_at

MAX_TRIALS = 500  # one status file lists every trial: beyond this it stops being readable
MAX_VALUES = 1000  # points one parameter may take
MAX_PARALLELISM = 100


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-5`` (no dot) as a string; a range bound is a number either way."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    return value


Number = Annotated[
    StrictInt | StrictFloat, BeforeValidator(_number, json_schema_input_type=str | int | float)
]
Value = StrictBool | StrictInt | StrictFloat | StrictStr


class Range(Strict):
    """Numbers from ``min`` to ``max``: every ``step``, or ``count`` points (evenly spaced, or
    evenly in log space with ``scale: log``); neither, for a random sweep, draws from the whole
    interval."""

    min: Number
    max: Number
    step: Number | None = Field(default=None, description="spacing of the points (linear scale)")
    count: int | None = Field(
        default=None,
        ge=2,
        le=MAX_VALUES,
        strict=True,
        description="number of points, ends included",
    )
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _shape(self) -> Range:
        if not math.isfinite(self.min) or not math.isfinite(self.max):
            raise ValueError("min and max must be finite numbers")
        if self.max <= self.min:
            raise ValueError(f"max {self.max:g} must be greater than min {self.min:g}")
        if self.step is not None and self.count is not None:
            raise ValueError("give step or count, not both")
        if self.scale == "log":
            if self.min <= 0:
                raise ValueError("a log range needs min > 0")
            if self.step is not None:
                raise ValueError("a log range takes count, not step")
        if self.step is not None:
            if not math.isfinite(self.step) or self.step <= 0:
                raise ValueError("step must be a positive number")
            points = int((_decimal(self.max) - _decimal(self.min)) / _decimal(self.step)) + 1
            if points > MAX_VALUES:
                raise ValueError(f"step gives {points} points; at most {MAX_VALUES}")
        return self

    @property
    def finite(self) -> bool:
        return self.step is not None or self.count is not None


def _decimal(value: float) -> Decimal:
    # Through str: Decimal(0.05) is 0.05000000000000000277..., Decimal("0.05") is what was written.
    return Decimal(str(value))


def _space_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict | Range):
        return "range"
    return None


def _unique(values: list[Any]) -> list[Any]:
    # 1 and 1.0 and True would be one hyperparameter value twice: compare what the run gets.
    seen: set[tuple[type, Any]] = set()
    for value in values:
        key = (bool, value) if isinstance(value, bool) else (object, str(value))
        if key in seen:
            raise ValueError(f"value {value!r} is listed twice")
        seen.add(key)
    return values


Values = Annotated[list[Value], Field(min_length=1, max_length=MAX_VALUES), AfterValidator(_unique)]
Space = Annotated[
    Annotated[Values, Tag("list")] | Annotated[Range, Tag("range")],
    Discriminator(
        _space_kind,
        custom_error_type="space",
        custom_error_message="must be a list of values or a range {min, max, step|count}",
    ),
]


class Objective(Strict):
    metric: str = Field(
        min_length=1,
        max_length=63,
        description="a metric the trials report in their termination message",
    )
    direction: Literal["maximize", "minimize"]
    goal: Number | None = Field(
        default=None, description="end the sweep once a trial reaches this value"
    )


class Sweep(Strict):
    """Trials of one TrainingJob, each a run with the sweep's parameter values merged over
    ``spec.hyperparameters``."""

    algorithm: Literal["grid", "random"]
    seed: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="random only: the trial list follows from the seed, so from the spec",
    )
    parameters: dict[str, Space] = Field(min_length=1, max_length=20)
    max_trials: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        strict=True,
        description="trials run at most; a grid defaults to all of its points",
    )
    parallelism: int = Field(
        default=1, ge=1, le=MAX_PARALLELISM, strict=True, description="trials running at once"
    )
    objective: Objective

    @model_validator(mode="after")
    def _algorithm(self) -> Sweep:
        if self.algorithm == "random":
            if self.seed is None:
                fail_at((), "a random sweep needs a seed, so its trials follow from the spec", None)
            if self.max_trials is None:
                fail_at((), "a random sweep needs maxTrials", None)
            return self
        if self.seed is not None:
            fail_at(("seed",), "seed applies to random sweeps only", self.seed)
        for name, space in self.parameters.items():
            if isinstance(space, Range) and not space.finite:
                fail_at(("parameters", name), "a grid parameter needs step or count", None)
        if self.max_trials is None and grid_size(self) > MAX_TRIALS:
            fail_at(
                ("parameters",),
                f"the grid has {grid_size(self)} points; set maxTrials (at most {MAX_TRIALS})",
                None,
            )
        return self


def range_points(space: Range) -> list[int | float]:
    """The points of a finite range, in order; ints when the bounds and every point are."""
    low, high = _decimal(space.min), _decimal(space.max)
    if space.step is not None:
        step = _decimal(space.step)
        count = int((high - low) / step) + 1
        points = [low + step * k for k in range(count)]
    elif space.scale == "log":
        assert space.count is not None
        ratio = space.max / space.min
        return [
            float(f"{space.min * ratio ** (k / (space.count - 1)):.6g}") for k in range(space.count)
        ]
    else:
        assert space.count is not None
        points = [low + (high - low) * k / (space.count - 1) for k in range(space.count)]
    bounds = (space.min, space.max, 1 if space.step is None else space.step)
    integral = all(isinstance(x, int) for x in bounds) and all(
        p == p.to_integral_value() for p in points
    )
    return [int(p) if integral else float(p) for p in points]


def space_size(space: Values | Range) -> int | None:
    """How many values a parameter takes; None for a continuous range."""
    if isinstance(space, list):
        return len(space)
    return len(range_points(space)) if space.finite else None


def grid_size(sweep: Sweep) -> int:
    return math.prod(space_size(space) or 1 for space in sweep.parameters.values())
