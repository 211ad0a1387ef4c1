"""Exit codes of ``reconciler plan``, as ``git diff --exit-code`` has them."""

from __future__ import annotations

from pathlib import Path


def test_no_changes_with_exit_code_is_0(repo, plan):
    repo.commit("empty")

    assert plan("--exit-code").code == 0


def test_changes_with_exit_code_are_1(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 3")
    repo.commit()

    assert plan("--exit-code").code == 1
    assert plan("--exit-code", "--format", "markdown").code == 1


def test_changes_without_exit_code_are_0(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 3")
    repo.commit()

    assert plan().code == 0


def test_errors_are_1_with_or_without_exit_code(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: -1")
    repo.commit()

    assert plan().code == 1
    assert plan("--exit-code").code == 1


def test_unknown_ref_is_2(repo, plan):
    outcome = plan("--base", "no-such-branch")

    assert outcome.code == 2
    assert "'no-such-branch' is not a commit" in outcome.err
    assert outcome.out == ""


def test_not_a_repository_is_2(plan, tmp_path: Path):
    empty = tmp_path / "plain-directory"
    empty.mkdir()

    outcome = plan("--exit-code", repo_path=empty)

    assert outcome.code == 2
    assert "is not a Git repository" in outcome.err


def test_missing_directory_is_2(plan, tmp_path: Path):
    assert plan(repo_path=tmp_path / "nowhere").code == 2


def test_unreadable_kubeconfig_is_2(repo, plan, tmp_path: Path):
    outcome = plan("--kubeconfig", str(tmp_path / "no-kubeconfig"))

    assert outcome.code == 2
    assert "cannot load Kubernetes configuration" in outcome.err
