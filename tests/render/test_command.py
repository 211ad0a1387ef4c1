"""`reconciler render`: output order, files per spec, problems, and byte-identical output."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest
import yaml

from reconciler.commands import render as render_command
from reconciler.commands.render import NO_COMMIT, head_commit
from reconciler.errors import ConfigError
from tests.render.support import EXAMPLES, PROJECT_ROOT

BROKEN = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata: {name: broken}
spec: {backend: job}
"""
VALID = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata: {name: fine}
spec: {image: "ghcr.io/acme/train:1", command: [python, t.py]}
"""


def main(argv: list[str]) -> int:
    """The command alone, so these tests do not depend on every other command importing."""
    parser = argparse.ArgumentParser()
    render_command.add_arguments(parser)
    return render_command.run(parser.parse_args(argv[1:]))


def _render_with_seed(repo: Path, seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "render", str(repo)],
        capture_output=True,
        env=env,
        cwd=PROJECT_ROOT,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_output_is_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    # A copy in a repository of its own, so a commit elsewhere cannot change the output.
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    pygit2.init_repository(str(repo))
    first = _render_with_seed(repo, "1")
    assert first.count(b"\nkind: ") >= 8
    assert _render_with_seed(repo, "4242") == first


def test_stdout_is_in_apply_order_then_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLES)]) == 0
    manifests = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = [m["kind"] for m in manifests]
    # Services before any pod starts; training runs before the serving that may wait for them.
    assert kinds.index("Service") < kinds.index("Job") < kinds.index("Deployment")
    jobs = [
        (m["metadata"]["namespace"], m["metadata"]["name"]) for m in manifests if m["kind"] == "Job"
    ]
    assert jobs == sorted(jobs)


def test_output_dir_gets_one_file_per_spec(tmp_path: Path) -> None:
    assert main(["render", str(EXAMPLES), "--output-dir", str(tmp_path)]) == 0
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml"))
    assert "ml-team/modeldeployment/fraud-detector.yaml" in files
    assert "ml-staging/modeldeployment/text-classifier.yaml" in files
    assert "ml-team/pipeline/churn.yaml" in files
    fraud_file = tmp_path / "ml-team" / "modeldeployment" / "fraud-detector.yaml"
    fraud = list(yaml.safe_load_all(fraud_file.read_text(encoding="utf-8")))
    assert {m["kind"] for m in fraud} == {"Deployment", "Service"}


def test_problems_go_to_stderr_and_valid_specs_still_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "fine.yaml").write_text(VALID)
    assert main(["render", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "broken.yaml" in captured.err
    [job] = list(yaml.safe_load_all(captured.out))
    assert job["metadata"]["name"].startswith("fine-")


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        main(["render", str(tmp_path / "absent")])


def test_source_commit_is_the_repository_head(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path))
    assert head_commit(tmp_path) == NO_COMMIT  # nothing committed yet
    (tmp_path / "fine.yaml").write_text(VALID)
    repo.index.add("fine.yaml")
    repo.index.write()
    signature = pygit2.Signature("ci", "ci@example.com", 0, 0)
    commit = repo.create_commit("HEAD", signature, signature, "specs", repo.index.write_tree(), [])
    assert head_commit(tmp_path) == str(commit)
