"""Content hashes that name runs and mark every object with the spec it came from.

All hashes are SHA-256 over canonical JSON (sorted keys, no whitespace), so they depend only on
content: never on dict insertion order, on PYTHONHASHSEED or on the Python version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.specs.models import AnySpec, Pipeline, PipelineStep, TrainingJob

SPEC_HASH_LENGTH = 16
RUN_HASH_LENGTH = 8

# What defines a training run. Labels and historyLimit are bookkeeping: changing them must not
# start a new run. Listed explicitly so a field added to the model later defines a run only
# when someone decides it does.
_RUN_FIELDS = {
    "image",
    "command",
    "args",
    "env",
    "hyperparameters",
    "resources",
    "backend",
    "training_runtime",
    "workers",
    "backoff_limit",
    "timeout",
    "output",
    "run_trigger",
    # A run's pod runs with these; unset, the field is left out of the dump (see the model),
    # so specs written before it existed keep their run hashes.
    "security",
}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(value: Any, length: int) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()[:length]


def spec_hash(spec: AnySpec) -> str:
    """16 hex digits over the whole spec: any change to the document changes it."""
    return _digest(spec.model_dump(mode="json", by_alias=True), SPEC_HASH_LENGTH)


def run_hash(training: TrainingJob) -> str:
    """8 hex digits over what defines a run of this TrainingJob, namespace included."""
    definition = training.spec.model_dump(mode="json", by_alias=True, include=_RUN_FIELDS)
    return _digest({"namespace": training.metadata.namespace, "spec": definition}, RUN_HASH_LENGTH)


def step_hashes(pipeline: Pipeline) -> dict[str, str]:
    """8 hex digits per step: its own definition, its direct upstreams' hashes and runTrigger.

    Upstream hashes already cover their own upstreams, so a change anywhere above a step
    reaches it, and a change below it never does.
    """
    hashes: dict[str, str] = {}
    for step in pipeline.spec.topological_order():
        hashes[step.name] = _step_digest(pipeline, step, hashes)
    return hashes


def _step_digest(pipeline: Pipeline, step: PipelineStep, known: dict[str, str]) -> str:
    # dependsOn enters only through the upstream map, so reordering the list is not a new run.
    definition = step.model_dump(mode="json", by_alias=True, exclude={"depends_on"})
    return _digest(
        {
            "namespace": pipeline.metadata.namespace,
            "runTrigger": pipeline.spec.run_trigger,
            "step": definition,
            "upstream": {name: known[name] for name in step.depends_on},
        },
        RUN_HASH_LENGTH,
    )


def run_name(name: str, hash8: str) -> str:
    return f"{name}-{hash8}"


def step_run_name(pipeline: str, step: str, hash8: str) -> str:
    return run_name(f"{pipeline}-{step}", hash8)
