"""A value typed into the cluster by hand never reaches logs, the status branch or a plan.

End to end: a running reconciler, a sandbox cluster and a real bare Git remote. Someone edits a
managed Deployment's env value to a database URL with a password; the reconciler reverts it
and reports the drift. The password must appear in no log event, in no file of any commit or
note on the remote, and in no ``reconciler plan`` output against the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pygit2
import pytest
from structlog.testing import capture_logs

from reconciler.cli import main
from reconciler_sandbox.testing import running_sandbox
from tests.loop.harness import Loop, running_loop, serving
from tests.waiting import wait_for

NAME = "fraud-api"
IN_GIT = "postgres://app@db.internal:5432/fraud"
PASSWORD = "hunter2-Xq9"
BY_HAND = f"postgres://app:{PASSWORD}@db.internal:5432/fraud"
ENV_PATH = "spec.template.spec.containers[name=server].env[name=DB_URL].value"


@pytest.fixture
def loop(tmp_path) -> Iterator[Loop]:
    with running_sandbox(deployment_delay=0.05) as sandbox, running_loop(tmp_path, sandbox) as run:
        yield run


def _db_url(loop: Loop) -> str | None:
    deployment = loop.apps.read_namespaced_deployment(NAME, loop.namespace)
    env = deployment.spec.template.spec.containers[0].env or []
    return next((item.value for item in env if item.name == "DB_URL"), None)


def _edit_by_hand(loop: Loop) -> None:
    deployment = loop.apps.read_namespaced_deployment(NAME, loop.namespace)
    for item in deployment.spec.template.spec.containers[0].env:
        if item.name == "DB_URL":
            item.value = BY_HAND
    loop.apps.replace_namespaced_deployment(NAME, loop.namespace, deployment)


def _everything_on_the_remote(bare: str) -> Iterator[bytes]:
    """Every commit message and blob reachable from any ref (branches, notes)."""
    repo = pygit2.Repository(bare)
    seen: set[str] = set()
    for name in repo.references:
        target = repo.references[name].peel(pygit2.Commit)
        for commit in repo.walk(target.id):
            yield commit.message.encode()
            pending = [commit.tree]
            while pending:
                tree = pending.pop()
                for entry in tree:
                    if str(entry.id) in seen:
                        continue
                    seen.add(str(entry.id))
                    obj = repo[entry.id]
                    if isinstance(obj, pygit2.Tree):
                        pending.append(obj)
                    else:
                        yield obj.data


def test_a_hand_edited_secret_is_reverted_and_never_repeated(loop, capsys):
    loop.commit({"models/api.yaml": serving(NAME, env={"DB_URL": IN_GIT})})
    with capture_logs() as logs:
        loop.start()
        loop.wait_phase("ModelDeployment", NAME, "Ready")
        _edit_by_hand(loop)
        wait_for(lambda: _db_url(loop) == IN_GIT, what="hand edit reverted")
        reverted = wait_for(
            lambda: (loop.status("ModelDeployment", NAME) or {}).get("driftReverted"),
            what="drift reported in status",
        )
        loop.idle()
        loop.stop()

    # The drift is reported by the field it touched...
    assert reverted == [f"Deployment/{NAME}: drifted: {ENV_PATH}"]
    updating = [event for event in logs if event["event"] == "updating"]
    assert any(ENV_PATH in str(event) for event in updating)
    # ...and its value is in no log event and nowhere on the remote.
    assert not [event for event in logs if PASSWORD in str(event)]
    leaks = [
        blob
        for blob in _everything_on_the_remote(str(loop.remote.bare))
        if PASSWORD.encode() in blob
    ]
    assert not leaks

    # With the reconciler stopped the edit stays, and a plan against the cluster names it.
    _edit_by_hand(loop)
    kubeconfig = str(loop.settings().cluster.kubeconfig)
    for output in ("text", "markdown", "json"):
        capsys.readouterr()
        code = main(
            [
                "plan",
                "--repo",
                str(loop.remote.work),
                "--base",
                "HEAD",
                "--head",
                "HEAD",
                "--kubeconfig",
                kubeconfig,
                "--format",
                output,
            ]
        )
        printed = capsys.readouterr()
        assert code == 0, printed.err
        assert ENV_PATH in printed.out
        assert PASSWORD not in printed.out + printed.err
