"""`reconciler demo`, README's main command, end to end in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def test_demo_settles_every_example_and_shows_the_lineage(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--timeout", "120"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "fraud-detector" in out and "2/2 replicas ready" in out
    assert "train-fraud           TrainingJob      ml-team     Succeeded" in out
    assert "gate accuracy >= 0.9 met" in out
    assert "git log --oneline status" in out
    assert "repository: Ready at" in out
    assert "git log --notes=reconciler main" in out and "reconciler: Ready at" in out


def test_demo_refuses_a_missing_crd_folder(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--crds", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "is not a directory" in done.stderr
