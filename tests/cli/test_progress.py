"""Progress lines on a terminal only: a pseudo-terminal sees them, a pipe never does."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.commands.demo import seed_repository
from reconciler.commands.progress import Progress
from reconciler.metrics import Metrics
from reconciler_sandbox.testing import running_sandbox
from tests.waiting import wait_for


def test_nothing_is_written_when_the_stream_is_not_a_terminal():
    metrics, stream = Metrics(), io.StringIO()
    with Progress(metrics, stream, interval=0.01) as progress:
        metrics.writes.labels("apply", "ok").inc(500)
        assert progress._thread is None
    assert stream.getvalue() == ""


def test_a_terminal_sees_counts_and_rate_while_work_goes_on():
    master, slave = pty.openpty()
    metrics = Metrics()
    metrics.writes.labels("apply", "ok").inc(7)  # before the block: not this work's
    seen = bytearray()
    with os.fdopen(slave, "w") as stream:
        with Progress(metrics, stream, interval=0.02):
            metrics.writes.labels("apply", "ok").inc(120)

            def line_read() -> bool:
                # Never block: a read waiting for a line that never comes would outlive the
                # deadline.
                if select.select([master], [], [], 0.05)[0]:
                    seen.extend(os.read(master, 4096))
                return b"\n" in seen

            wait_for(line_read, timeout=5, what="a progress line")
            metrics.writes.labels("delete", "ok").inc(3)
        seen.extend(os.read(master, 4096))
    os.close(master)
    lines = seen.decode().splitlines()
    assert lines[0].startswith("progress: 120 objects applied, 0 pruned, ")
    assert lines[0].endswith("/s")
    assert lines[-1].startswith("progress: 120 objects applied, 3 pruned in ")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    specs = tmp_path / "specs"
    (specs / "models").mkdir(parents=True)
    for index in range(3):
        (specs / "models" / f"m{index}.yaml").write_text(
            "apiVersion: mlops/v1alpha1\nkind: ModelDeployment\n"
            f"metadata: {{name: m{index}, namespace: ml}}\n"
            "spec: {model: {uri: 's3://models/m/1'}, image: 'ghcr.io/acme/srv:1', replicas: 1}\n"
        )
    bare = tmp_path / "specs.git"
    seed_repository(specs, bare)
    return bare


def run_once(tmp_path: Path, bare: Path, kubeconfig: Path, on_terminal: bool) -> str:
    command = [
        *(sys.executable, "-m", "reconciler", "run", "--once", "--repo", str(bare)),
        *("--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / f"cache-{on_terminal}")),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    if not on_terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr
    master, slave = pty.openpty()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    seen = bytearray()

    def read() -> None:  # concurrently, so a full terminal buffer never blocks the child
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert process.wait(timeout=120) == 0, seen.decode()[-2000:]
    finally:
        reader.join(10)
        os.close(master)
    return seen.decode()


def test_run_once_reports_progress_on_a_terminal_and_not_in_a_pipe(tmp_path, repository):
    # A cluster each: both runs apply the same six objects.
    with running_sandbox(deployment_delay=0.05) as sandbox:
        terminal = run_once(tmp_path, repository, sandbox.kubeconfig_path, on_terminal=True)
    with running_sandbox(deployment_delay=0.05) as sandbox:
        piped = run_once(tmp_path, repository, sandbox.kubeconfig_path, on_terminal=False)
        assert len(sandbox.counters()) > 0
    assert "progress: 6 objects applied, 0 pruned in " in terminal
    assert "progress:" not in piped and '"event": "status_committed"' in piped
    assert piped.strip(), "the structured log goes on"
    assert all(line.startswith("{") for line in piped.splitlines() if line.strip())
