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
    # The example sweep ends with every trial run, and serves its best trial, not its newest.
    assert "6/6 trials finished; best trial 3 (auc 0.95); ended AllDone" in out
    assert "from run tune-fraud-2fa55d99 (trial 3 of sweep" in out
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
