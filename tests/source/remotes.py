"""Real Git repositories on disk for tests: a bare remote and a work tree pushing into it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pygit2

_GIT_CONFIG = (
    "-c", "user.name=Test",
    "-c", "user.email=test@example.invalid",
    "-c", "init.defaultBranch=main",
    "-c", "commit.gpgsign=false",
)  # fmt: skip


def git(*args: str, cwd: Path) -> str:
    # A clean environment: no user or system configuration changes what the tests see.
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(
        ["git", *_GIT_CONFIG, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def branch_files(bare: Path, branch: str) -> dict[str, bytes]:
    """Every file on ``branch`` of the bare repository, by path; empty when there is no branch."""
    repo = pygit2.Repository(str(bare))
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return {}
    out: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if entry.type_str == "tree":
                walk(repo[entry.id], prefix + entry.name + "/")
            else:
                out[prefix + entry.name] = repo[entry.id].data

    walk(repo[ref.target].peel(pygit2.Tree), "")
    return out


class Remote:
    """A bare repository at ``bare`` and a clone at ``work`` that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "-q", str(self.bare), cwd=root)
        git("init", "-q", str(self.work), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def commit(
        self, files: Mapping[str, str | None], message: str = "change", branch: str = "main"
    ) -> str:
        """Write (or, for None, delete) files, commit on ``branch``, push; the new commit id."""
        if git("branch", "--show-current", cwd=self.work) != branch:
            git("checkout", "-q", "-B", branch, cwd=self.work)
        for path, content in files.items():
            target = self.work / path
            if content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", branch, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)
