"""What every rule shares: the Health it returns and readers of a live object that never
raise, since a status is written by controllers this project does not control."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.phase import Phase


@dataclass(frozen=True)
class Health:
    phase: Phase
    reason: str
    """A CamelCase word for machines, often the controller's own condition reason."""
    message: str
    """One human line."""


Rule = Callable[[dict[str, Any]], Health]


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    return mapping(obj.get("status"))


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return mapping(obj.get("spec"))


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def conditions_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Conditions by type; a malformed entry is skipped rather than trusted."""
    found: dict[str, dict[str, Any]] = {}
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for condition in conditions:
            if isinstance(condition, dict) and isinstance(condition.get("type"), str):
                found[condition["type"]] = condition
    return found


def is_true(condition: dict[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def is_false(condition: dict[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "False"


def restart_policy(obj: dict[str, Any]) -> str:
    return as_str(spec_of(obj).get("restartPolicy")) or "Always"


def from_condition(
    phase: Phase, condition: dict[str, Any], default_reason: str, default_message: str
) -> Health:
    return Health(
        phase,
        as_str(condition.get("reason")) or default_reason,
        as_str(condition.get("message")) or default_message,
    )


def generation_behind(obj: dict[str, Any]) -> Health | None:
    observed = status_of(obj).get("observedGeneration")
    generation = mapping(obj.get("metadata")).get("generation")
    if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
        return Health(
            Phase.PROGRESSING,
            "ObservedGenerationBehind",
            f"waiting for the controller to observe generation {generation}",
        )
    return None
