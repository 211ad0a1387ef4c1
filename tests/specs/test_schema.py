"""The committed JSON Schemas match the models and accept what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.cli import main
from reconciler.specs import schema
from tests.specs.conftest import TRAINING

PROJECT = Path(__file__).resolve().parents[2]


def test_committed_schemas_are_up_to_date() -> None:
    assert schema.stale(PROJECT / "schemas") == [], "run: reconciler schema"


def test_schema_files_are_deterministic() -> None:
    assert schema.schemas() == schema.schemas()
    for content in schema.schemas().values():
        assert content.endswith(b"}\n")
        document = json.loads(content)
        assert {"$schema", "$id", "title", "description"} <= document.keys()


def _validator(name: str) -> jsonschema.Draft202012Validator:
    document = json.loads(schema.schemas()[name])
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_schema_accepts_what_people_write() -> None:
    spec = yaml.safe_load(
        TRAINING
        + "  resources: {cpu: 2, memory: 4Gi}\n"
        + "  env: {DEBUG: true, TOKEN: {secretKeyRef: {name: hub, key: token}}}\n"
        + "  hyperparameters: {lr: 0.01, layers: 3}\n"
    )

    assert list(_validator("trainingjob.json").iter_errors(spec)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backoff_limit": 1}, "Additional properties are not allowed"),
        ({"backend": "mpi"}, "is not one of"),
    ],
)
def test_schema_rejects_mistakes(change: dict[str, object], message: str) -> None:
    spec = yaml.safe_load(TRAINING)
    spec["spec"].update(change)

    errors = list(_validator("trainingjob.json").iter_errors(spec))

    assert len(errors) == 1
    assert message in errors[0].message


def test_schema_command_writes_then_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    assert main(["schema", "--check", "--output-dir", str(out)]) == 1
    assert capsys.readouterr().out.splitlines() == [str(out / name) for name in schema.schemas()]

    assert main(["schema", "--output-dir", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(schema.schemas())
    assert (out / "pipeline.json").read_bytes() == (PROJECT / "schemas/pipeline.json").read_bytes()

    (out / "pipeline.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["schema", "--check", "--output-dir", str(out)]) == 1
    assert capsys.readouterr().out == f"{out / 'pipeline.json'}\n"
