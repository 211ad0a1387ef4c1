"""A guard that holds: once a commit's prunes are held they stay held until a new commit releases
them or the operator names the held commit (finding 4: a held commit was released by the next
watch-triggered reconcile, whose denominator counted what the same commit had just created)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.loop.harness import Loop, running_loop, serving
from tests.source.remotes import git
from tests.waiting import wait_for

SIX = {f"models/m{i}.yaml": serving(f"m-{i}") for i in range(6)}
# Removes four of six specs (8 of 12 objects) and adds two: over the 50% limit.
SWEEP = {
    **{f"models/m{i}.yaml": None for i in range(4)},
    **{f"models/n{i}.yaml": serving(f"n-{i}") for i in range(2)},
}


@pytest.fixture
def loop(tmp_path, cluster) -> Iterator[Loop]:
    with running_loop(tmp_path, cluster) as running:
        yield running


def deployments(loop: Loop) -> set[str]:
    return {d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items}


def guard_of(loop: Loop) -> dict[str, Any] | None:
    return yaml.safe_load(loop.status_files()["repository.yaml"]).get("pruneGuard")


def resync(loop: Loop) -> None:
    assert loop.service is not None
    engine = loop.service.engine
    done = engine.reconciles
    engine.trigger("resync")
    wait_for(lambda: engine.reconciles > done, what="a full resync")
    loop.idle()


def restart(loop: Loop, **settings: Any) -> None:
    loop.stop()
    loop.start(**settings)
    assert loop.service is not None
    engine = loop.service.engine
    wait_for(lambda: engine.reconciles > 0, what="the first reconcile after the restart")
    loop.idle()


def sweep(loop: Loop) -> str:
    loop.commit(SIX)
    loop.start()
    loop.wait_phase("ModelDeployment", "m-5", "Ready")
    head = loop.commit(SWEEP, "retire four models, add two")
    loop.reconciled(head)
    loop.idle()
    return head


def test_a_held_commit_stays_held_until_the_operator_releases_it(loop):
    head = sweep(loop)
    everything = {f"m-{i}" for i in range(6)} | {"n-0", "n-1"}
    held = guard_of(loop)
    assert held is not None and held["held"] is True
    assert held["commit"] == head
    assert held["ownedBefore"] == 12
    assert "would delete 8 of 12 managed objects" in held["reason"]
    assert f"--allow-prune {head[:12]}" in held["reason"]
    # Applies go on: the new specs serve, and their watch events reconcile again and again.
    loop.wait_phase("ModelDeployment", "n-1", "Ready")
    loop.idle()
    assert deployments(loop) == everything
    resync(loop)
    assert deployments(loop) == everything
    restart(loop)
    assert deployments(loop) == everything
    assert guard_of(loop)["held"] is True
    # Naming another commit releases nothing.
    restart(loop, allow_prune="0123456789ab")
    assert deployments(loop) == everything
    restart(loop, allow_prune=head[:12])
    wait_for(lambda: deployments(loop) == {"m-4", "m-5", "n-0", "n-1"}, what="pruned")
    wait_for(lambda: guard_of(loop)["override"] is True, what="override reported")
    assert loop.status("ModelDeployment", "m-0") is None


def test_a_later_commit_within_the_limit_releases_the_hold(loop):
    sweep(loop)
    # Still held at a commit that changes nothing it removes.
    loop.reconciled(loop.commit({"README.md": "models\n"}, "docs"))
    loop.idle()
    assert guard_of(loop)["held"] is True
    assert {f"m-{i}" for i in range(4)} <= deployments(loop)
    # Restoring two of the four leaves 4 of the 12 objects owned before: within the limit.
    head = loop.commit({f"models/m{i}.yaml": serving(f"m-{i}") for i in range(2)}, "restore")
    loop.reconciled(head)
    wait_for(
        lambda: "m-2" not in deployments(loop) and "m-3" not in deployments(loop), what="pruned"
    )
    assert deployments(loop) == {"m-0", "m-1", "m-4", "m-5", "n-0", "n-1"}
    assert guard_of(loop) is None


def test_rewritten_history_holds_prunes_but_not_applies(loop):
    loop.commit({f"models/m{i}.yaml": serving(f"m-{i}") for i in range(4)})
    loop.start()
    loop.wait_phase("ModelDeployment", "m-3", "Ready")
    loop.idle()
    # A force-push replaces the branch with unrelated history: m-3 gone (2 of 8 objects,
    # within the limit), n-0 new.
    work = loop.remote.work
    git("checkout", "-q", "--orphan", "rewritten", cwd=work)
    (work / "models" / "m3.yaml").unlink()
    (work / "models" / "n0.yaml").write_text(loop.text(serving("n-0")))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "start over", cwd=work)
    git("push", "-q", "-f", "origin", "rewritten:main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work)
    loop.service.engine.trigger("commit")
    loop.reconciled(head)
    loop.wait_phase("ModelDeployment", "n-0", "Ready")
    loop.idle()
    assert "m-3" in deployments(loop)
    held = guard_of(loop)
    assert held["held"] is True and held["commit"] == head
    assert "history rewritten" in held["reason"]
    resync(loop)
    assert "m-3" in deployments(loop)
    # A commit on top of the new history is judged as usual and releases it.
    loop.reconciled(loop.commit({"README.md": "models\n"}, "docs"))
    wait_for(lambda: "m-3" not in deployments(loop), what="m-3 pruned")
    assert deployments(loop) == {"m-0", "m-1", "m-2", "n-0"}
