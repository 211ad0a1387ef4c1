"""Real Git repositories of specs in tmp_path, and a way to run ``reconciler plan`` on them.

Commits are made with the git CLI under a fixed identity and fixed dates, so the same content
always gives the same commit ids: golden output can name them.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main

FIXED_DATE = "2024-06-01T12:00:00+00:00"


def spec(text: str) -> str:
    return textwrap.dedent(text).lstrip()


SERVING = spec(
    """
    apiVersion: mlops/v1alpha1
    kind: ModelDeployment
    metadata:
      name: fraud-detector
    spec:
      model:
        fromTraining: {name: train-fraud}
      format: sklearn
      image: ghcr.io/acme/sklearn-server:2.1.0
      replicas: 2
      resources: {cpu: 500m, memory: 1Gi}
      env:
        LOG_LEVEL: info
      promotion:
        metrics: {accuracy: 0.9}
    """
)

TRAINING = spec(
    """
    apiVersion: mlops/v1alpha1
    kind: TrainingJob
    metadata:
      name: train-fraud
    spec:
      image: ghcr.io/acme/fraud-train:1.4.2
      command: [python, -m, fraud.train]
      hyperparameters:
        lr: 0.01
        max_depth: 12
      resources: {cpu: "4", memory: 8Gi}
      output:
        uri: s3://models/fraud/{run}/model.joblib
      timeout: 2h
    """
)

PIPELINE = spec(
    """
    apiVersion: mlops/v1alpha1
    kind: Pipeline
    metadata:
      name: churn
    spec:
      steps:
        - name: prepare
          image: ghcr.io/acme/churn:3.0.1
          command: [python, -m, churn.prepare]
          outputs: {train: "s3://data/churn/{run}/train.parquet"}
        - name: train
          image: ghcr.io/acme/churn:3.0.1
          command: [python, -m, churn.train]
          args: ["--eta=0.1"]
          dependsOn: [prepare]
          outputs: {model: "s3://models/churn/{run}/model.ubj"}
        - name: evaluate
          image: ghcr.io/acme/churn:3.0.1
          command: [python, -m, churn.evaluate]
          dependsOn: [train]
    """
)

CONFIG = spec(
    """
    defaultNamespace: ml-team
    """
)


@dataclass
class Repo:
    path: Path

    def git(self, *args: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_AUTHOR_DATE": FIXED_DATE,
            "GIT_COMMITTER_DATE": FIXED_DATE,
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": os.environ.get("PATH", ""),
        }
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def edit(self, name: str, old: str, new: str) -> None:
        text = (self.path / name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        self.write(name, text.replace(old, new))

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A repository on ``main`` whose first commit holds serving, training and a pipeline."""
    created = Repo(tmp_path / "specs")
    created.path.mkdir()
    created.git("init", "-q", "-b", "main")
    created.write("reconciler.yaml", CONFIG)
    created.write("models/fraud-detector.yaml", SERVING)
    created.write("training/train-fraud.yaml", TRAINING)
    created.write("pipelines/churn.yaml", PIPELINE)
    created.commit("initial specs")
    return created


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def plan(capsys: pytest.CaptureFixture[str], repo: Repo):
    """Run ``reconciler plan --repo <repo> ARGS...`` in-process."""

    def run(*args: str, repo_path: Path | None = None) -> Outcome:
        capsys.readouterr()
        argv: Sequence[str] = ["plan", "--repo", str(repo_path or repo.path), *args]
        code = main(argv)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
