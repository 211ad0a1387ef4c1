"""``kind: Pipeline``: a DAG of steps, each a run of its own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from reconciler.specs.models.common import (
    HASH_SUFFIX_LENGTH,
    Adopt,
    Env,
    Metadata,
    Name,
    NonEmpty,
    Resources,
    Scalar,
    Security,
    Strict,
    check_uri,
    fail_at,
)

# Step runs are named "<pipeline>-<step>-<hash8>".
MAX_PIPELINE_STEP_JOB = 63 - HASH_SUFFIX_LENGTH
OUTPUT_NAME = re.compile(r"[a-z][a-z0-9_-]*")


class PipelineStep(Strict):
    name: Name
    image: NonEmpty
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    depends_on: list[str] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    security: Security = None

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, uri in value.items():
            if not OUTPUT_NAME.fullmatch(name):
                raise ValueError(f"output name {name!r} must match [a-z][a-z0-9_-]*")
            check_uri("output", uri)
        return value


class PipelineSpec(Strict):
    steps: list[PipelineStep] = Field(min_length=1)
    run_trigger: Scalar | None = None
    history_limit: int = Field(default=3, ge=1, le=100, strict=True)
    adopt: Adopt = False

    @model_validator(mode="after")
    def _dag(self) -> PipelineSpec:
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.name in seen:
                fail_at(
                    ("steps", index, "name"), f"step name {step.name!r} is used twice", step.name
                )
            seen.add(step.name)
        for index, step in enumerate(self.steps):
            for position, upstream in enumerate(step.depends_on):
                loc = ("steps", index, "dependsOn", position)
                if upstream not in seen:
                    fail_at(
                        loc, f"step {step.name!r} depends on unknown step {upstream!r}", upstream
                    )
                if upstream == step.name:
                    fail_at(loc, f"step {step.name!r} depends on itself", upstream)
        cycle = find_cycle({step.name: step.depends_on for step in self.steps})
        if cycle:
            index = next(i for i, step in enumerate(self.steps) if step.name == cycle[0])
            position = self.steps[index].depends_on.index(cycle[1])
            fail_at(
                ("steps", index, "dependsOn", position),
                "steps form a cycle: " + " -> ".join(cycle),
                cycle[1],
            )
        return self

    def topological_order(self) -> list[PipelineStep]:
        """Steps ordered so every step comes after its upstreams; ties keep file order."""
        by_name = {step.name: step for step in self.steps}
        done: list[str] = []
        remaining = [step.name for step in self.steps]
        while remaining:
            for name in remaining:
                if all(dep in done for dep in by_name[name].depends_on):
                    done.append(name)
                    remaining.remove(name)
                    break
        return [by_name[name] for name in done]


def find_cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """A cycle in ``node -> dependencies`` as a closed path of names, or [] when acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


class Pipeline(Strict):
    api_version: Literal["mlops/v1alpha1"]
    kind: Literal["Pipeline"]
    metadata: Metadata
    spec: PipelineSpec

    @model_validator(mode="after")
    def _name_length(self) -> Pipeline:
        for step in self.spec.steps:
            if len(self.metadata.name) + 1 + len(step.name) > MAX_PIPELINE_STEP_JOB:
                fail_at(
                    ("metadata", "name"),
                    f"plus step name {step.name!r} must be at most "
                    f"{MAX_PIPELINE_STEP_JOB - 1} characters (step runs are "
                    "<pipeline>-<step>-<hash8>)",
                    self.metadata.name,
                )
        return self
