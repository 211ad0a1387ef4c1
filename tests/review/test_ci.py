"""The CI examples and the pre-commit hook run commands that exist, with flags that work."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

from reconciler.cli import COMMANDS, main
from tests.review.conftest import SERVING, TRAINING

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples/ci/github-actions.yml"
GITLAB = ROOT / "examples/ci/gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _reconciler_commands(scripts: list[str], env: dict[str, str]) -> list[list[str]]:
    """Every ``reconciler ...`` shell command, variables expanded, output redirection and
    ``|| ...`` fallbacks cut off."""
    commands = []
    for script in scripts:
        for line in script.splitlines():
            line = line.strip()
            if not line.startswith("reconciler "):
                continue
            line = re.split(r"\s(?:>|\|\|)\s", line)[0]
            words = shlex.split(line)
            commands.append([re.sub(r"\$(\w+)", lambda m: env[m.group(1)], w) for w in words[1:]])
    return commands


def _github_scripts() -> list[str]:
    workflow = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["plan"]["steps"]
    assert any(step.get("uses", "").startswith("actions/github-script@") for step in steps)
    return [step["run"] for step in steps if "run" in step]


def _gitlab_scripts() -> list[str]:
    job = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))["reconciler-plan"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert any("merge_requests/$CI_MERGE_REQUEST_IID/notes" in line for line in job["script"])
    return job["script"]


def test_github_workflow_runs_validate_then_markdown_plan(repo, monkeypatch):
    commands = _reconciler_commands(_github_scripts(), {"BASE_REF": "main"})

    assert commands == [
        ["validate", "."],
        ["plan", "--repo", ".", "--base", "origin/main", "--format", "markdown"],
    ]
    _run_in_pull_request(repo, commands, monkeypatch)


def test_gitlab_job_runs_validate_then_markdown_plan(repo, monkeypatch):
    base = repo.git("rev-parse", "HEAD")
    commands = _reconciler_commands(_gitlab_scripts(), {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})

    assert commands == [
        ["validate", "."],
        ["plan", "--repo", ".", "--base", base, "--format", "markdown"],
    ]
    _run_in_pull_request(repo, commands, monkeypatch)


def _run_in_pull_request(repo, commands: list[list[str]], monkeypatch) -> None:
    """Run the commands as the CI job would: in a checkout of a change on top of main."""
    repo.git("update-ref", "refs/remotes/origin/main", "main")
    repo.git("checkout", "-q", "-b", "change")
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 3")
    repo.commit()
    monkeypatch.chdir(repo.path)
    validate, plan_command = commands
    assert main(validate) == 0
    assert main(plan_command) == 0


def test_pre_commit_hook(tmp_path: Path):
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))

    assert hook["id"] == "reconciler-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert files.search("models/a.yaml") and files.search("b.yml")
    assert not files.search("schema.json")
    program, command = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert program in scripts["scripts"]
    assert command in COMMANDS

    good = tmp_path / "good.yaml"
    good.write_text(TRAINING)
    bad = tmp_path / "bad.yaml"
    bad.write_text(SERVING.replace("replicas: 2", "replicas: two"))
    assert main([command, str(good)]) == 0
    assert main([command, str(good), str(bad)]) == 1
