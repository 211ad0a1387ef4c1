"""`reconciler status` shows where a canary analysis and a sweep stand, in every output format,
with the columns and JSON keys it had before left as they were."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from reconciler.cli import main
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.reader import COLUMNS, WIDE_COLUMNS
from tests.cli.status_branch import StatusRemote, spec_status

SCORER = SpecKey("ModelDeployment", "ml", "scorer")
TUNE = SpecKey("TrainingJob", "ml", "tune")
PLAIN = SpecKey("ModelDeployment", "web", "plain")

ANALYSIS = {
    "canaryHash": "5e0c1f4a9b2d",
    "phase": "Progressing",
    "step": 2,
    "weight": 50,
    "failures": 0,
    "startedAt": "2026-01-01T00:00:00Z",
    "since": "2026-01-01T00:01:00Z",
    "checks": [
        {
            "at": "2026-01-01T00:01:00Z",
            "step": 1,
            "weight": 25,
            "verdict": "Pass",
            "metrics": {"request-success-rate": {"value": 1.0, "verdict": "Pass"}},
        }
    ],
}
SWEEP = {
    "id": "991c6b34",
    "algorithm": "grid",
    "objective": {"metric": "auc", "direction": "maximize"},
    "parallelism": 2,
    "trials": [
        {"trial": 0, "parameters": {"eta": 0.1}, "run": "tune-aa", "phase": "Succeeded"}
        | {"metrics": {"auc": 0.93}},
        {"trial": 1, "parameters": {"eta": 0.2}, "run": "tune-bb", "phase": "Progressing"},
        {"trial": 2, "parameters": {"eta": 0.3}, "run": "tune-cc", "phase": "Pending"},
    ],
    "best": {"trial": 0, "parameters": {"eta": 0.1}, "run": "tune-aa", "metrics": {"auc": 0.93}},
}
CANARY_TEXT = "canary Progressing at 50% (step 2)"
SWEEP_TEXT = "sweep 1/3 finished, 1 running, best trial 0 (auc 0.93)"


@pytest.fixture
def status_cli(capsys):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = main(["status", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.fixture
def remote(tmp_path) -> StatusRemote:
    remote = StatusRemote(tmp_path)
    replicas = {"ready": 4, "desired": 4}
    remote.write(
        {
            SCORER: spec_status(
                Phase.READY, "4/4 replicas ready", replicas=replicas, analysis=ANALYSIS
            ),
            TUNE: spec_status(Phase.PROGRESSING, "1/3 trials finished", sweep=SWEEP),
            PLAIN: spec_status(Phase.READY, "1/1 replicas ready"),
        }
    )
    return remote


def rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines()[1:] if line.strip()}


@pytest.mark.parametrize("output", ["table", "text"])
def test_the_table_ends_with_a_progress_column(remote, status_cli, output) -> None:
    shown = status_cli("--repo", remote.url, "-o", output)
    assert shown.returncode == 0
    header = shown.stdout.splitlines()[0].split()
    assert header == [*COLUMNS, "PROGRESS"]
    found = rows(shown.stdout)
    assert found["scorer"].endswith(CANARY_TEXT)
    assert found["tune"].endswith(SWEEP_TEXT)
    assert found["plain"].endswith("1a2b3c4")  # SOURCE last: nothing to show


def test_the_wide_table_keeps_its_columns_and_adds_progress_last(remote, status_cli) -> None:
    shown = status_cli("--repo", remote.url, "-o", "wide")
    assert shown.stdout.splitlines()[0].split() == [*WIDE_COLUMNS, "PROGRESS"]
    found = rows(shown.stdout)
    assert found["scorer"].endswith(f"4/4 replicas  {CANARY_TEXT}")
    assert found["tune"].endswith(SWEEP_TEXT)


def test_without_an_analysis_or_sweep_listed_the_table_is_as_before(remote, status_cli) -> None:
    for output in ("table", "wide"):
        shown = status_cli("--repo", remote.url, "--namespace", "web", "-o", output)
        header = shown.stdout.splitlines()[0].split()
        assert header == list(COLUMNS if output == "table" else WIDE_COLUMNS)
        assert "plain" in rows(shown.stdout)


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machine_output_adds_progress_and_keeps_the_status_fields(
    remote, status_cli, output
) -> None:
    shown = status_cli("--repo", remote.url, "-o", output)
    data = json.loads(shown.stdout) if output == "json" else yaml.safe_load(shown.stdout)
    specs = {spec["spec"]: spec for spec in data["specs"]}
    scorer, tune, plain = specs["scorer"], specs["tune"], specs["plain"]
    assert scorer["progress"] == {
        "kind": "canary",
        "stage": "Progressing",
        "weight": 50,
        "step": 2,
        "summary": CANARY_TEXT,
    }
    assert tune["progress"] == {
        "kind": "sweep",
        "finished": 1,
        "running": 1,
        "trials": 3,
        "bestTrial": 0,
        "best": {"auc": 0.93},
        "summary": SWEEP_TEXT,
    }
    assert "progress" not in plain
    # The keys scripts read already are all still there, the records in full.
    for spec in specs.values():
        assert {"spec", "kind", "namespace", "path", "phase", "message"} <= set(spec)
    assert scorer["analysis"] == ANALYSIS and tune["sweep"] == SWEEP
