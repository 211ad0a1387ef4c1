"""`reconciler demo`, README's main command, end to end in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_settles_every_example_and_shows_the_lineage(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--timeout", "120"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # where it keeps the spec repository
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
    # The Events it posted, as kubectl events lists them.
    assert "kubectl events -A (the reconciler's " in out
    (posted,) = re.findall(r"kubectl events -A \(the reconciler's (\d+);", out)
    assert int(posted) >= 12
    assert re.search(r"ml-team +\d+s +Normal +PromotionAdvanced +Deployment/fraud-", out)
    # The spec repository stays, and git reads the note, the dashboard and the history from it.
    (kept,) = re.findall(r"the spec repository stays at (\S+);", out)
    assert Path(kept).parent.parent == tmp_path
    assert not (Path(kept).parent / "cache").exists()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", kept, *args], capture_output=True, text=True, check=True
        ).stdout

    assert "Notes (reconciler):\n    reconciler: Ready at" in git(
        "log", "--notes=reconciler", "main"
    )
    dashboard = git("show", "status:README.md")
    assert "```mermaid" in dashboard and "### ✅ [ml-team/churn]" in dashboard
    assert "`s3://ml-models/fraud/train-fraud-c567cbc8/model.joblib`" in dashboard
    # Commits may name several specs each (status writes are paced); their bodies list them all.
    history = git("log", "--format=%B", "status")
    assert history.count("Source-Commit: ") >= 3
    assert re.search(r"(?m)^(- TrainingJob/ml-team/)?tune-fraud: Succeeded", history)


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
