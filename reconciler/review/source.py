"""Which two revisions a plan compares, read from a local Git repository.

Default base: the merge-base of the head commit with the repository's default branch, the
first of ``main``, ``master``, ``origin/main``, ``origin/master`` that exists. When that is the
head commit itself (planning on the default branch), or no default branch exists, the base is
the head commit's first parent, and for a root commit an empty repository. With the working
tree as head, the merge-base may be HEAD itself: that plans the uncommitted changes.
"""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.errors import ConfigError
from reconciler.review.model import Revision
from reconciler.specs.loaded import LoadResult
from reconciler.specs.loader import ParseCache, load_commit, load_directory
from reconciler.specs.models import RepoConfig

WORKTREE = "WORKTREE"
EMPTY = "(empty)"
DEFAULT_BRANCHES = ("main", "master", "origin/main", "origin/master")


def open_repository(path: Path) -> pygit2.Repository:
    try:
        found = pygit2.discover_repository(str(path))
    except pygit2.GitError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if found is None or not path.exists():
        raise ConfigError(f"{path} is not a Git repository")
    repo = pygit2.Repository(found)
    if repo.head_is_unborn:
        raise ConfigError(f"{path} has no commits yet")
    return repo


def resolve(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(ref).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise ConfigError(f"{ref!r} is not a commit in this repository") from exc


def default_base(repo: pygit2.Repository, head: pygit2.Commit, worktree: bool) -> str | None:
    """The ref to compare against; None means an empty repository (head is a root commit)."""
    for branch in DEFAULT_BRANCHES:
        try:
            tip = repo.revparse_single(branch).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        base = repo.merge_base(tip.id, head.id)
        if base is not None and (worktree or base != head.id):
            return str(base)
        break
    return str(head.parent_ids[0]) if head.parent_ids else None


def load(
    repo: pygit2.Repository, ref: str | None, cache: ParseCache
) -> tuple[Revision, LoadResult]:
    """One side: a commit's tree, the working tree (``WORKTREE``), or nothing (None)."""
    if ref is None:
        return Revision(EMPTY, None), LoadResult(config=RepoConfig())
    if ref == WORKTREE:
        if repo.workdir is None:
            raise ConfigError("a bare repository has no working tree")
        return Revision(WORKTREE, None), load_directory(Path(repo.workdir), cache)
    commit = resolve(repo, ref)
    return Revision(ref, str(commit.id)), load_commit(repo, commit, cache)
