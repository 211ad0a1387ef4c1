"""`reconciler validate`: output, exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.specs.conftest import TRAINING, Writer


def test_clean_repository_exits_0(write_repo: Writer, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_repo({"a.yaml": TRAINING})

    assert main(["validate", str(root)]) == 0

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "1 valid spec\n"


def test_problems_exit_1_one_sorted_line_each(
    write_repo: Writer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo(
        {
            "b.yaml": TRAINING + "  workers: 0\n",
            "a.yaml": TRAINING.replace("churn-train", "x") + "  gpus: 1\n",
            "ok.yaml": TRAINING.replace("churn-train", "ok"),
        }
    )
    monkeypatch.chdir(root.parent)

    assert main(["validate", "repo"]) == 1

    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "repo/a.yaml:7:3: spec: unknown field 'gpus'",
        "repo/b.yaml:7:3: spec.workers: Input should be greater than or equal to 1",
    ]
    assert captured.err == "2 problems in 2 files; 1 valid spec\n"


def test_absolute_paths_below_the_current_directory_print_relative(
    write_repo: Writer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_repo({"a.yaml": TRAINING + "  gpus: 1\n"})
    monkeypatch.chdir(root)

    assert main(["validate", str(root / "a.yaml")]) == 1

    assert capsys.readouterr().out == "a.yaml:7:3: spec: unknown field 'gpus'\n"


def test_single_file_and_json_output(
    write_repo: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_repo(
        {
            "s.yaml": (
                "apiVersion: mlops/v1alpha1\nkind: ModelDeployment\nmetadata: {name: web}\n"
                "spec:\n  model: {fromTraining: {name: elsewhere}}\n  image: serve:1\n"
                "  replicas: many\n"
            ),
            "t.yaml": TRAINING,
        }
    )

    assert main(["validate", "--output", "json", str(root / "s.yaml"), str(root / "t.yaml")]) == 1

    assert json.loads(capsys.readouterr().out) == {
        "problems": [
            {
                "file": f"{root}/s.yaml",
                "line": 7,
                "column": 3,
                "field": "spec.replicas",
                "message": "Input should be a valid integer",
            }
        ],
        "specs": 1,
    }


def test_missing_path_exits_2(write_repo: Writer, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_repo({"a.yaml": TRAINING})

    assert main(["validate", str(root), str(root / "nope")]) == 2

    assert (
        capsys.readouterr().err
        == f"reconciler validate: {root / 'nope'}: no such file or directory\n"
    )


def test_no_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])

    assert exc.value.code == 2
    assert "PATH" in capsys.readouterr().err


def test_a_config_file_on_its_own_is_checked_as_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reconciler.yaml"
    config.write_text("defaultNamespace: Prod\n")

    assert main(["validate", str(config)]) == 1

    assert capsys.readouterr().out.endswith(
        "reconciler.yaml:1:1: defaultNamespace: 'Prod' must be a DNS-1035 label: lower-case "
        "letters, digits and '-', starting with a letter and ending with a letter or digit\n"
    )
