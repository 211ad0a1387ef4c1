"""bench/run.py end to end at a tiny N: the one command works and its report has every row."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
ROWS = (
    "cold reconcile: start until every object is applied",
    "no-op reconcile (resync)",
    "one changed spec: push until the object is updated",
    "one removed spec: push until its objects are deleted",
    "first status commit of all N files",
    "peak RSS of the reconciler process",
)


def test_benchmark_at_twenty_specs(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    command = [sys.executable, str(PROJECT / "bench" / "run.py"), "--specs", "20"]
    command += ["--repetitions", "1", "--output", str(output)]
    done = subprocess.run(
        command,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = output.read_text()
    assert "## N = 20 specs" in report
    rows = {
        line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("|")
    }
    for row in ROWS:
        assert row in rows, f"missing row {row!r} in:\n{report}"
    # A no-op reconcile makes no request and no commit, at any N.
    assert "| 0; 0 Git commits" in rows["no-op reconcile (resync)"]
    if shutil.which("kubectl") is not None:
        assert "kubectl requests" in report
        cold = rows["cold reconcile: start until every object is applied"]
        assert cold.split("|")[4].strip(), "no kubectl time for the cold reconcile"
    else:
        assert "kubectl not found" in report


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found[int(entry.name)] = command
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_terminated_run_stops_the_processes_it_started(tmp_path: Path) -> None:
    command = [sys.executable, str(PROJECT / "bench" / "run.py"), "--specs", "20"]
    command += ["--repetitions", "1", "--output", str(tmp_path / "RESULTS.md")]
    run = subprocess.Popen(
        command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # The reconciler process starts once the sandbox answers: both are running then.
        deadline = time.monotonic() + 120
        started: dict[str, int] = {}
        while len(started) < 2:
            assert run.poll() is None, "the run ended before its processes started"
            assert time.monotonic() < deadline, f"only {sorted(started)} within 120 s"
            for pid, line in _children(run.pid).items():
                for role in (" sandbox ", " --reconciler-process "):
                    if role in line:
                        started[role] = pid
            time.sleep(0.1)
        sandbox = started[" sandbox "]

        run.terminate()

        assert run.wait(60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while _alive(sandbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(sandbox), "the sandbox outlived the run that started it"
    finally:
        run.kill()
        run.wait()
