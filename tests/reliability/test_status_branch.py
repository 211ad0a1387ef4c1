"""The status branch is the operator's: a repository cannot aim the write credential elsewhere.

Finding: ``statusBranch: main`` made the reconciler commit status onto the spec branch, each
status commit a new commit to reconcile: 118 commits in 8 s. Now the spec branch, and any
existing branch the reconciler did not write, is refused (no status is written, nothing lands
anywhere else), and an operator's --status-branch pins the branch whatever the repository says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pygit2
import pytest
import yaml

from reconciler_sandbox.testing import running_sandbox
from tests.loop.harness import Loop, running_loop, serving
from tests.waiting import wait_for

SPEC = {"models/web.yaml": serving("web")}


@pytest.fixture
def loop(tmp_path) -> Iterator[Loop]:
    with (
        running_sandbox(deployment_delay=0.05) as sandbox,
        running_loop(tmp_path, sandbox) as running,
    ):
        yield running


def tip(loop: Loop, branch: str) -> str | None:
    ref = pygit2.Repository(str(loop.remote.bare)).references.get(f"refs/heads/{branch}")
    return None if ref is None else str(ref.target)


def files(loop: Loop, branch: str) -> dict[str, bytes]:
    repo = pygit2.Repository(str(loop.remote.bare))
    found: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if entry.type_str == "tree":
                walk(repo[entry.id], prefix + entry.name + "/")
            else:
                found[prefix + entry.name] = repo[entry.id].data

    walk(repo.revparse_single(f"refs/heads/{branch}").peel(pygit2.Tree), "")
    return found


def branches(loop: Loop) -> set[str]:
    return set(pygit2.Repository(str(loop.remote.bare)).branches.local)


def applied(loop: Loop) -> None:
    wait_for(
        lambda: [d for d in loop.apps.list_namespaced_deployment(loop.namespace).items],
        what="the spec applied",
    )
    loop.idle()


def refusal(loop: Loop) -> str:
    assert loop.service is not None
    status: Any = loop.service.status
    return wait_for(lambda: getattr(status, "refusal", None), what="the branch refused")


def test_the_spec_branch_is_refused_and_the_loop_does_not_spin(loop: Loop) -> None:
    head = loop.commit({"reconciler.yaml": "statusBranch: main\n", **SPEC})
    loop.start()
    applied(loop)

    assert "it is the spec branch" in refusal(loop)
    assert loop.service is not None
    engine = loop.service.engine
    before = engine.reconciles
    engine.trigger("poll")
    loop.idle()

    assert tip(loop, "main") == head  # no status commit landed on the spec branch
    assert branches(loop) == {"main"}  # and none anywhere else
    assert engine.reconciles - before <= 2  # one poll, one reconcile: nothing feeds itself


def test_an_existing_branch_with_specs_is_refused(loop: Loop) -> None:
    release = loop.commit(SPEC, "release specs", branch="release")
    loop.commit({"reconciler.yaml": "statusBranch: release\n", **SPEC})
    loop.start()
    applied(loop)

    assert "holds no repository.yaml" in refusal(loop)
    assert tip(loop, "release") == release
    assert branches(loop) == {"main", "release"}


def test_the_operator_pins_the_branch_and_the_repository_is_noted(loop: Loop) -> None:
    head = loop.commit({"reconciler.yaml": "statusBranch: main\n", **SPEC})
    loop.start(status_branch="status")
    loop.reconciled(head)

    assert tip(loop, "main") == head
    repository = yaml.safe_load(loop.status_files()["repository.yaml"])
    assert repository["sourcePhase"] == "Ready"
    assert "statusBranch 'main' of reconciler.yaml is not used" in repository["sourceMessage"]


def test_a_new_branch_named_by_the_repository_is_written_and_kept_after_a_restart(
    loop: Loop,
) -> None:
    head = loop.commit({"reconciler.yaml": "statusBranch: ml-status\n", **SPEC})
    loop.start()
    wait_for(lambda: tip(loop, "ml-status"), what="status on ml-status")
    assert loop.service is not None and loop.service.status.branch == "ml-status"
    loop.stop()

    # The branch now exists, written by the reconciler: a restart goes on writing it.
    later = loop.commit({"models/other.yaml": serving("other")}, "another spec")
    loop.start()
    wait_for(
        lambda: (
            yaml.safe_load(files(loop, "ml-status")["repository.yaml"])["sourceCommit"] == later
        ),
        what="the restart to write ml-status",
    )
    assert getattr(loop.service.status, "refusal", None) is None
    assert f"{loop.namespace}/modeldeployment/other.yaml" in files(loop, "ml-status")
    assert head != later and tip(loop, "main") == later
