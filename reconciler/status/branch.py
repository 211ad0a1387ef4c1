"""Which branch status may be pushed to: the operator's, or a repository's that is safe to write.

The reconciler pushes status with a credential that can write to the remote, so the branch is
the operator's choice, not the spec author's:

- Never usable (``problem``): the spec branch (a status commit would be a new spec commit, and
  reconciling it would write status again, forever), ``HEAD``, a full ref name (``refs/...``,
  tags included) or anything Git refuses as a branch name. Status is always pushed to
  ``refs/heads/<name>``, so a tag is never written.
- The operator's ``--status-branch`` pins the branch; reconciler.yaml's ``statusBranch`` is then
  ignored (repository.yaml notes a different value).
- Otherwise reconciler.yaml's ``statusBranch`` (default ``status``) is written only when that
  branch does not exist yet or its tip is a status branch the reconciler wrote: ``repository.yaml``
  at its root and nothing the spec loader reads as a spec or a repository config. Any other
  branch (``release``, another installation's spec branch) is refused: no status is written at
  all, and every read and write says why (``RepositoryStatusWriter``). Nothing is ever written to
  another branch instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pygit2
import structlog

from reconciler.errors import SourceError
from reconciler.specs.loader import CONFIG_FILE, load_commit
from reconciler.status.model import REPOSITORY_FILE
from reconciler.status.writer import StatusWriter

log = structlog.get_logger(__name__)


def problem(name: str, spec_branch: str) -> str | None:
    """Why ``name`` can never be the status branch of ``spec_branch``, or None."""
    if name == spec_branch:
        return "it is the spec branch: every status commit would be a new commit to reconcile"
    if name == "HEAD" or name.startswith("refs/"):
        return "a branch name is needed, not HEAD or a full ref name"
    if name.startswith("-") or not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        return "it is not a valid branch name"
    return None


def foreign(repo: pygit2.Repository, tip: pygit2.Oid) -> str | None:
    """Why the existing branch at ``tip`` is not a status branch the reconciler wrote, or None."""
    tree = repo[tip].peel(pygit2.Tree)
    if REPOSITORY_FILE not in tree:
        return f"the branch exists and holds no {REPOSITORY_FILE}: the reconciler did not write it"
    if CONFIG_FILE in tree:
        return f"the branch exists and holds a {CONFIG_FILE}: it is a spec branch"
    loaded = load_commit(repo, tip)
    if loaded.specs or loaded.invalid:
        return "the branch exists and holds specs: it is a spec branch"
    return None


class RepositoryStatusWriter(StatusWriter):
    """The writer of a status branch named by the repository rather than pinned by the operator.

    Its first read fetches the branch and decides once whether it may be written (see the module
    docstring); when it may not, every read and write raises ``SourceError`` saying why, so the
    status book logs the reason and nothing is pushed. A fetch that fails leaves the question
    open for the next attempt.
    """

    def __init__(self, spec_branch: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spec_branch = spec_branch
        self._checked = False
        self.refusal: str | None = None

    def read(self) -> dict[str, bytes]:
        self._check()
        return super().read()

    def write(self, files: Mapping[str, bytes], message: str) -> pygit2.Oid | None:
        self._check()
        return super().write(files, message)

    def _check(self) -> None:
        if not self._checked:
            reason = problem(self.branch, self._spec_branch)
            if reason is None:
                super().read()  # fetches the branch: its tip is known after this
                reason = None if self.tip is None else foreign(self.repo, self.tip)
            self._checked = True
            if reason is not None:
                self.refusal = (
                    f"statusBranch {self.branch!r} of {CONFIG_FILE} is refused: {reason}; no "
                    "status is written (the operator can pin one with --status-branch)"
                )
                log.error("status_branch_refused", branch=self.branch, reason=reason)
        if self.refusal is not None:
            raise SourceError(self.refusal)
