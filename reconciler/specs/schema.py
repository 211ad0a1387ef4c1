"""JSON Schemas of the spec kinds and of ``reconciler.yaml``, generated from the models.

Editors and CI tools validate specs with them; the files are committed under ``schemas/`` and
``reconciler schema --check`` fails when they no longer match the models. The bytes are
deterministic (sorted keys, two-space indent, trailing newline) so regenerating an unchanged
schema never shows up in a diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel

from reconciler.specs.models import API_VERSION, ModelDeployment, Pipeline, RepoConfig, TrainingJob

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:reconciler:schemas:"


class SchemaFile(NamedTuple):
    name: str
    model: type[BaseModel]
    title: str
    description: str


SCHEMA_FILES = (
    SchemaFile(
        "modeldeployment.json",
        ModelDeployment,
        "ModelDeployment",
        f"A model served on Kubernetes ({API_VERSION}).",
    ),
    SchemaFile(
        "trainingjob.json",
        TrainingJob,
        "TrainingJob",
        f"A training run to completion, rerun when its definition changes ({API_VERSION}).",
    ),
    SchemaFile(
        "pipeline.json",
        Pipeline,
        "Pipeline",
        f"A DAG of steps, each run when it or an upstream step changes ({API_VERSION}).",
    ),
    SchemaFile(
        "reconciler-config.json",
        RepoConfig,
        "reconciler.yaml",
        "Repository configuration read from reconciler.yaml at the repository root.",
    ),
)


def render(entry: SchemaFile) -> bytes:
    schema = entry.model.model_json_schema(by_alias=True, mode="validation")
    schema.update(
        {
            "$schema": DIALECT,
            "$id": ID_PREFIX + entry.name,
            "title": entry.title,
            "description": entry.description,
        }
    )
    return (json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def schemas() -> dict[str, bytes]:
    """File name -> the bytes it should hold."""
    return {entry.name: render(entry) for entry in SCHEMA_FILES}


def stale(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that are missing or differ from the models."""
    return [
        name
        for name, content in schemas().items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]


def write(directory: Path) -> list[str]:
    """Bring ``directory`` up to date; returns the names of the files written."""
    names = stale(directory)
    if names:
        directory.mkdir(parents=True, exist_ok=True)
        expected = schemas()
        for name in names:
            (directory / name).write_bytes(expected[name])
    return names
