"""`reconciler status`: filters, outputs, exit codes and --watch, against a real bare remote."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest
import yaml

from reconciler.cli import main
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from tests.cli.status_branch import StatusRemote, spec_status
from tests.waiting import wait_for

SERVE = SpecKey("ModelDeployment", "ml", "fraud")
TRAIN = SpecKey("TrainingJob", "ml", "train")
OTHER = SpecKey("ModelDeployment", "web", "site")


@pytest.fixture
def status_cli(capsys):
    """The command in this process (each run's output captured): faster than a subprocess."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()  # drop what the test logged before
        try:
            code = main(["status", *args])
        except SystemExit as exit:  # argparse refusing a flag
            code = int(exit.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.fixture
def remote(tmp_path) -> StatusRemote:
    remote = StatusRemote(tmp_path)
    remote.write(
        {
            SERVE: spec_status(
                Phase.READY, "2/2 replicas ready", replicas={"ready": 2, "desired": 2}
            ),
            TRAIN: spec_status(Phase.FAILED, "run train-1 Failed", currentRun="train-1"),
            OTHER: spec_status(Phase.PROGRESSING, "0/1 replicas ready"),
        }
    )
    return remote


def test_filters_and_exit_code_follow_the_listed_specs(remote, status_cli):
    everything = status_cli("--repo", remote.url)
    assert everything.returncode == 1  # train is Failed
    assert "train" in everything.stdout and "\033[" not in everything.stdout  # no TTY, no colour
    serving = status_cli("--repo", remote.url, "--kind", "modeldeployment", "-o", "json")
    assert serving.returncode == 0
    assert [s["spec"] for s in json.loads(serving.stdout)["specs"]] == ["fraud", "site"]
    ready = status_cli("--repo", remote.url, "--namespace", "ml", "--phase", "ready", "-o", "yaml")
    assert ready.returncode == 0
    assert [s["spec"] for s in yaml.safe_load(ready.stdout)["specs"]] == ["fraud"]
    failed = status_cli("--repo", remote.url, "--phase", "Failed", "-o", "text")
    assert failed.returncode == 1 and "run train-1 Failed" in failed.stdout
    wide = status_cli("--repo", remote.url, "-o", "wide", "--namespace", "ml")
    header = wide.stdout.splitlines()[0].split()
    assert header[-3:] == ["SINCE", "OBJECTS", "DETAIL"]
    assert "2/2 replicas" in wide.stdout and "run train-1" in wide.stdout


def test_usage_and_environment_errors_exit_2(tmp_path, remote, status_cli):
    assert status_cli("--repo", str(tmp_path / "absent.git")).returncode == 2
    assert status_cli("--repo", remote.url, "--phase", "Sleeping").returncode == 2
    assert status_cli("--repo", remote.url, "--status-branch", "nope").returncode == 2


def test_watch_redraws_when_the_branch_moves_and_ends_on_interrupt(remote):
    args = ["--repo", remote.url, "--watch", "--interval", "0.1", "--namespace", "ml"]
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "status", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("run train-1 Failed" in line for line in lines), 30, what="draw")
        remote.write({TRAIN: spec_status(Phase.SUCCEEDED, "run train-2 Succeeded")})
        wait_for(lambda: any("train-2 Succeeded" in line for line in lines), 30, what="redraw")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0  # the last draw lists no failing spec
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
    assert sum(1 for line in lines if line.startswith("SPEC")) == 2
