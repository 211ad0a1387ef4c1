"""`reconciler history KIND/NAME`: a spec's timeline from its status file's git log."""

from __future__ import annotations

import subprocess

import pytest

from reconciler.cli import main
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from tests.cli.status_branch import SHA, StatusRemote, spec_status

TRAIN = SpecKey("TrainingJob", "ml", "train-fraud")
SERVE = SpecKey("ModelDeployment", "ml", "fraud")


@pytest.fixture
def history(capsys):
    """The command in this process (each run's output captured): faster than a subprocess."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()  # drop what the test logged before
        code = main(["history", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_timeline_tells_runs_metrics_promotions_and_failures(tmp_path, history):
    remote = StatusRemote(tmp_path)
    run = {"name": "train-fraud-1", "phase": "Progressing", "sourceCommit": SHA}
    remote.write({TRAIN: spec_status(Phase.PROGRESSING, "run started", runs=[run])})
    done = {**run, "phase": "Succeeded", "metrics": {"accuracy": 0.94}}
    model = {"uri": "s3://m/1", "run": "train-fraud-1", "metrics": {"accuracy": 0.94}}
    remote.write(
        {
            TRAIN: spec_status(Phase.SUCCEEDED, "run done", runs=[done]),
            SERVE: spec_status(Phase.READY, "serving", model=model),
        }
    )
    failed = {"name": "train-fraud-2", "phase": "Failed", "sourceCommit": SHA}
    remote.write(
        {TRAIN: spec_status(Phase.FAILED, "run train-fraud-2 Failed", runs=[done, failed])}
    )
    shown = history("TrainingJob/train-fraud", "--repo", remote.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "ml/trainingjob/train-fraud.yaml on status:"
    assert "Progressing: run started" in lines[1]
    assert lines[2] == "    run train-fraud-1: Progressing"
    assert "Succeeded: run done" in lines[3]
    assert lines[4] == "    run train-fraud-1 Succeeded (accuracy 0.94)"
    assert "Failed: run train-fraud-2 Failed" in lines[5]
    assert lines[6:] == ["    run train-fraud-2: Failed", "    failure: run train-fraud-2 Failed"]
    served = history("modeldeployment/fraud", "--repo", remote.url, "--namespace", "ml")
    assert "    promoted: model s3://m/1 from run train-fraud-1 (accuracy 0.94)" in served.stdout


def test_a_spec_without_a_status_file_exits_2(tmp_path, history):
    remote = StatusRemote(tmp_path)
    remote.write({TRAIN: spec_status(Phase.READY)})
    missing = history("TrainingJob/absent", "--repo", remote.url)
    assert missing.returncode == 2 and "no status file for TrainingJob/absent" in missing.stderr
    elsewhere = history("TrainingJob/train-fraud", "--repo", remote.url, "--namespace", "web")
    assert elsewhere.returncode == 2
    assert history("train-fraud", "--repo", remote.url).returncode == 2


def test_timeline_tells_each_canary_step(tmp_path, history):
    remote = StatusRemote(tmp_path)
    model = {"uri": "s3://m/1"}
    checks = [{"weight": 25, "verdict": "Passed"}, {"weight": 50, "verdict": "Passed"}]
    steps = [
        {"phase": "Progressing", "weight": 25, "step": 1, "canaryHash": "c1", "checks": []},
        {"phase": "Progressing", "weight": 50, "step": 2, "canaryHash": "c1", "checks": checks[:1]},
        {"phase": "Promoted", "weight": 100, "step": 2, "canaryHash": "c1", "checks": checks},
    ]
    for analysis in steps:
        remote.write({SERVE: spec_status(Phase.READY, "serving", model=model, analysis=analysis)})

    shown = history("ModelDeployment/fraud", "--repo", remote.url, "--namespace", "ml")

    assert shown.returncode == 0, shown.stderr
    events = [line.strip() for line in shown.stdout.splitlines() if line.startswith("    ")]
    assert events == [
        "promoted: model s3://m/1",
        "canary analysis started at 25%",
        "canary 25% -> 50%",
        "canary 50% -> 100%, promoted after 2 checks",
    ]
