"""bench/run.py end to end at a tiny N: the one command works and its report has every row."""

from __future__ import annotations

import shutil
import subprocess
import sys
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
