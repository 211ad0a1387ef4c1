"""Which objects a review creates, updates, deletes or replaces: plan()'s answer, in its words."""

from __future__ import annotations

from typing import Any

from reconciler import labels
from reconciler.review.compare import compare_objects
from reconciler.review.model import ObjectAction


def obj(kind: str, name: str, *, run: str | None = None, step: str = "", **spec: Any) -> dict:
    meta_labels = {labels.RUN_HASH: run, labels.PIPELINE_STEP: step} if run else {}
    return {
        "apiVersion": "batch/v1" if run else "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "ml",
            "labels": {k: v for k, v in meta_labels.items() if v},
            "annotations": {labels.SOURCE_COMMIT: name + spec.pop("commit", "a")},
        },
        "spec": spec,
    }


def actions(before: list[dict], after: list[dict]) -> list[tuple[str, str, str | None]]:
    return [(c.name, c.action, c.previous_name) for c in compare_objects(before, after)]


def test_the_rendering_commit_alone_changes_nothing() -> None:
    assert actions([obj("Service", "s", commit="a")], [obj("Service", "s", commit="b")]) == [
        ("s", ObjectAction.UNCHANGED, None)
    ]


def test_a_run_of_a_step_replaces_the_run_of_that_step_only() -> None:
    before = [obj("Job", "f-a-1", run="1", step="a"), obj("Job", "f-b-1", run="1", step="b")]
    after = [obj("Job", "f-a-2", run="2", step="a"), obj("Job", "f-b-1", run="1", step="b")]
    assert actions(before, after) == [
        ("f-a-2", ObjectAction.REPLACE, "f-a-1"),
        ("f-b-1", ObjectAction.UNCHANGED, None),
    ]


def test_renamed_objects_that_are_not_runs_are_a_create_and_a_delete() -> None:
    before = [obj("ConfigMap", "old", data=1)]
    after = [obj("ConfigMap", "new", data=1)]
    assert actions(before, after) == [
        ("new", ObjectAction.CREATE, None),
        ("old", ObjectAction.DELETE, None),
    ]


def test_an_update_lists_its_fields() -> None:
    (change,) = compare_objects([obj("Service", "s", port=80)], [obj("Service", "s", port=81)])
    assert change.action is ObjectAction.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [("spec.port", 80, 81)]
