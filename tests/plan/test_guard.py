"""guard_prunes(): when a commit may not delete what it stopped declaring."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.cluster.inventory import ObjectRef
from reconciler.plan import Action, ChangeSet, PruneGuard, guard_prunes, plan

OVERRIDE = "raise --max-prune-fraction or commit the removal in smaller steps"


def managed(name: str, source: str = "models/a.yaml") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ml-team",
            "labels": {"app.kubernetes.io/managed-by": "reconciler"},
            "annotations": {"mlops/source-path": source},
        },
    }


def changes(prunes: int, *, keep: int = 0, source: str = "models/a.yaml") -> ChangeSet:
    """``keep`` objects still desired (NOOP) and ``prunes`` objects gone from Git."""
    kept = [managed(f"kept-{i:02}") for i in range(keep)]
    gone = [managed(f"gone-{i:02}", source) for i in range(prunes)]
    return plan(kept, kept + gone)


def refs(changeset: ChangeSet) -> tuple[ObjectRef, ...]:
    return tuple(change.ref for change in changeset.prunes)


def test_nothing_to_prune_is_not_guarded() -> None:
    changeset = changes(0, keep=3)
    assert guard_prunes(changeset, managed_total=3, load_failed=False, failed_files=()) == (
        changeset,
        None,
    )


def test_load_failure_holds_every_prune() -> None:
    changeset = changes(2, keep=18)
    guarded, guard = guard_prunes(changeset, managed_total=20, load_failed=True, failed_files=())
    assert guarded.prunes == ()
    assert guarded.noops == changeset.noops
    assert guard == PruneGuard(
        held=True,
        reason="the specs at this commit did not load; holding all 2 prunes",
        override="fix the spec repository; pruning resumes at the first commit that loads",
        refs=refs(changeset),
    )


def test_objects_from_files_that_failed_to_load_are_kept() -> None:
    broken = plan([], [managed("a", "models/broken.yaml"), managed("b", "models/gone.yaml")])
    guarded, guard = guard_prunes(
        broken, managed_total=10, load_failed=False, failed_files={"models/broken.yaml"}
    )
    assert [c.ref.name for c in guarded.prunes] == ["b"]
    assert guard is not None
    assert guard.held is False
    assert [ref.name for ref in guard.refs] == ["a"]
    assert guard.reason == "kept 1 object whose spec files did not load: models/broken.yaml"


FRACTIONS = [
    # prunes, managed total, max fraction, held, reason
    (12, 20, 0.5, True, "this commit would delete 12 of 20 managed objects (60% > 50%)"),
    (11, 20, 0.5, True, "this commit would delete 11 of 20 managed objects (55% > 50%)"),
    # Exactly at the limit is allowed: the limit is the most a commit may delete.
    (10, 20, 0.5, False, None),
    (1, 20, 0.5, False, None),
    (29, 100, 0.29, False, None),
    (30, 100, 0.29, True, "this commit would delete 30 of 100 managed objects (30% > 29%)"),
    (1, 3, 0.25, True, "this commit would delete 1 of 3 managed objects (33.3% > 25%)"),
    (20, 20, 1.0, False, None),
    (1, 20, 0.0, True, "this commit would delete 1 of 20 managed objects (5% > 0%)"),
    # A total smaller than the prunes themselves cannot be right; count the prunes instead.
    (3, 0, 0.5, True, "this commit would delete 3 of 3 managed objects (100% > 50%)"),
]


@pytest.mark.parametrize(("prunes", "total", "fraction", "held", "reason"), FRACTIONS)
def test_prune_fraction(
    prunes: int, total: int, fraction: float, held: bool, reason: str | None
) -> None:
    changeset = changes(prunes)
    guarded, guard = guard_prunes(
        changeset, managed_total=total, max_fraction=fraction, load_failed=False, failed_files=()
    )
    if not held:
        assert (guarded, guard) == (changeset, None)
        return
    assert guarded.prunes == ()
    assert guard == PruneGuard(
        held=True, reason=reason or "", override=OVERRIDE, refs=refs(changeset)
    )


def test_fraction_counts_only_what_would_really_be_deleted() -> None:
    changeset = plan(
        [], [managed(f"broken-{i}", "models/broken.yaml") for i in range(8)] + [managed("gone")]
    )
    guarded, guard = guard_prunes(
        changeset, managed_total=10, load_failed=False, failed_files={"models/broken.yaml"}
    )
    assert [c.ref.name for c in guarded.prunes] == ["gone"]
    assert guard is not None and guard.held is False
    assert len(guard.refs) == 8


def test_fraction_hold_also_reports_kept_objects() -> None:
    changeset = plan(
        [],
        [managed("broken", "models/broken.yaml")] + [managed(f"gone-{i}") for i in range(6)],
    )
    guarded, guard = guard_prunes(
        changeset, managed_total=10, load_failed=False, failed_files={"models/broken.yaml"}
    )
    assert guarded.prunes == ()
    assert guard is not None and guard.held is True
    assert guard.reason == (
        "this commit would delete 6 of 10 managed objects (60% > 50%); "
        "kept 1 object whose spec files did not load: models/broken.yaml"
    )
    assert set(guard.refs) == set(refs(changeset))


def test_other_changes_pass_through_untouched() -> None:
    desired = [managed("new")]
    changeset = plan(desired, [managed(f"gone-{i}") for i in range(5)])
    guarded, _ = guard_prunes(changeset, managed_total=5, load_failed=False, failed_files=())
    assert [(c.action, c.ref.name) for c in guarded] == [(Action.CREATE, "new")]


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_fraction_outside_zero_to_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="max_fraction"):
        guard_prunes(
            changes(1), managed_total=5, max_fraction=fraction, load_failed=False, failed_files=()
        )
