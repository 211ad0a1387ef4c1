"""The prune guard: unloaded_prunes() per reconcile, and judge() once per commit."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import guard
from reconciler.inventory import Inventory, ObjectRef, stamp
from reconciler.plan import ChangeSet, plan
from reconciler.status.model import PruneGuard

HEAD = "c0ffee" + "0" * 34


def managed(name: str, source: str = "models/a.yaml") -> dict[str, Any]:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ml-team",
            "labels": {"app.kubernetes.io/managed-by": "reconciler"},
            "annotations": {"mlops/source-path": source},
        },
    }
    return stamp(obj, "test")


def planned(desired: list[dict[str, Any]], live: list[dict[str, Any]]) -> ChangeSet:
    recorded = Inventory.of("test", [(ObjectRef.from_object(o), "") for o in live])
    return plan(desired, live, inventory=recorded)


def changes(prunes: int, *, keep: int = 0, source: str = "models/a.yaml") -> ChangeSet:
    """``keep`` objects still desired (NOOP) and ``prunes`` objects gone from Git."""
    kept = [managed(f"kept-{i:02}") for i in range(keep)]
    gone = [managed(f"gone-{i:02}", source) for i in range(prunes)]
    return planned(kept, kept + gone)


def refs(changeset: ChangeSet) -> tuple[ObjectRef, ...]:
    return tuple(change.ref for change in changeset.prunes)


def test_nothing_to_prune_is_not_guarded() -> None:
    changeset = changes(0, keep=3)
    assert guard.unloaded_prunes(changeset, load_failed=False, failed_files=()) == ((), None)


def test_load_failure_holds_every_prune() -> None:
    changeset = changes(2, keep=18)
    kept, held = guard.unloaded_prunes(changeset, load_failed=True, failed_files=())
    assert tuple(change.ref for change in kept) == refs(changeset)
    assert held == PruneGuard(
        held=True,
        reason="the specs at this commit did not load; holding all 2 prunes; "
        "fix the spec repository; pruning resumes at the first commit that loads",
    )


def test_objects_from_files_that_failed_to_load_are_kept() -> None:
    broken = planned([], [managed("a", "models/broken.yaml"), managed("b", "models/gone.yaml")])
    kept, why = guard.unloaded_prunes(
        broken, load_failed=False, failed_files={"models/broken.yaml"}
    )
    assert [c.ref.name for c in kept] == ["a"]
    assert why is not None
    assert why.held is False
    assert why.reason.startswith("kept 1 object whose spec files did not load: models/broken.yaml;")


FRACTIONS = [
    # prunes, owned before, max fraction, held reason (None: not held)
    (12, 20, 0.5, "this commit would delete 12 of 20 managed objects (60% > 50%)"),
    (11, 20, 0.5, "this commit would delete 11 of 20 managed objects (55% > 50%)"),
    # Exactly at the limit is allowed: the limit is the most a commit may delete.
    (10, 20, 0.5, None),
    (1, 20, 0.5, None),
    (29, 100, 0.29, None),
    (30, 100, 0.29, "this commit would delete 30 of 100 managed objects (30% > 29%)"),
    (1, 3, 0.25, "this commit would delete 1 of 3 managed objects (33.3% > 25%)"),
    (20, 20, 1.0, None),
    (1, 20, 0.0, "this commit would delete 1 of 20 managed objects (5% > 0%)"),
    # A total smaller than the prunes themselves cannot be right; count the prunes instead.
    (3, 0, 0.5, "this commit would delete 3 of 3 managed objects (100% > 50%)"),
    (0, 20, 0.0, None),
]


@pytest.mark.parametrize(("prunes", "owned", "fraction", "reason"), FRACTIONS)
def test_a_commit_removing_too_much_is_held(
    prunes: int, owned: int, fraction: float, reason: str | None
) -> None:
    held = guard.judge(HEAD, prunes=prunes, owned_before=owned, max_fraction=fraction)
    if reason is None:
        assert held is None
        return
    assert held == PruneGuard(
        held=True,
        reason=f"{reason}; {guard.release_hint(HEAD)}",
        commit=HEAD,
        owned_before=owned,
    )
    assert "--allow-prune c0ffee000000" in held.reason


def test_rewritten_history_holds_any_prune() -> None:
    held = guard.judge(
        HEAD, prunes=1, owned_before=100, max_fraction=0.5, rewritten_from="abcdef1234"
    )
    assert held is not None and held.held
    assert held.reason.startswith(
        "history rewritten: c0ffee0 does not descend from abcdef1, the last commit reconciled"
    )
    assert (
        guard.judge(HEAD, prunes=0, owned_before=100, max_fraction=0.5, rewritten_from="abcdef1234")
        is None
    )


def test_only_the_held_commit_can_be_released_by_the_operator() -> None:
    held = guard.judge(HEAD, prunes=3, owned_before=4, max_fraction=0.5)
    assert held is not None
    assert guard.overridden(held, "c0ffee0")
    assert guard.overridden(held, HEAD)
    assert not guard.overridden(held, "c0ffee1")
    assert not guard.overridden(held, None)
    released = guard.released(held)
    assert (released.held, released.override, released.commit) == (False, True, HEAD)


def test_waiting_and_combined_reasons() -> None:
    assert guard.waiting_for([]) is None
    wait = guard.waiting_for(["ModelDeployment/ml/fraud-v2"])
    assert wait is not None and not wait.held
    assert wait.reason == "waiting for replacements to become ready: ModelDeployment/ml/fraud-v2"
    held = guard.judge(HEAD, prunes=3, owned_before=4, max_fraction=0.5)
    both = guard.combined([held, wait])
    assert both is not None
    assert (both.held, both.commit, both.waiting_for) == (
        True,
        HEAD,
        ("ModelDeployment/ml/fraud-v2",),
    )
    assert guard.combined([None]) is None


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_fraction_outside_zero_to_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="max_fraction"):
        guard.judge(HEAD, prunes=1, owned_before=5, max_fraction=fraction)
