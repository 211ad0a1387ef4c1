"""The pure structural diff and the projection used against live objects."""

from __future__ import annotations

import pytest

from reconciler.review.diff import diff, project
from reconciler.review.model import ABSENT, FieldChange
from reconciler.review.risks import unpinned


def test_named_list_items_pair_by_name_not_position():
    before = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    after = {"containers": [{"name": "b", "image": "y:2"}, {"name": "a", "image": "x:1"}]}

    assert diff(before, after) == [FieldChange("containers[name=b].image", "y:1", "y:2")]


def test_added_and_removed_subtrees_are_one_change_each():
    before = {"env": [{"name": "A", "value": "1"}]}
    after = {"env": [{"name": "B", "value": "2"}]}

    assert diff(before, after) == [
        FieldChange("env[name=B]", ABSENT, {"name": "B", "value": "2"}),
        FieldChange("env[name=A]", {"name": "A", "value": "1"}, ABSENT),
    ]


def test_unnamed_lists_compare_by_index():
    assert diff({"args": ["--a", "1"]}, {"args": ["--a", "2", "--b"]}) == [
        FieldChange("args[1]", "1", "2"),
        FieldChange("args[2]", ABSENT, "--b"),
    ]


def test_keys_that_are_not_words_are_quoted():
    before = {"metadata": {"annotations": {"mlops/spec-hash": "a"}}}
    after = {"metadata": {"annotations": {"mlops/spec-hash": "b"}}}

    assert diff(before, after)[0].path == 'metadata.annotations["mlops/spec-hash"]'


@pytest.mark.parametrize(("before", "after"), [(1, "1"), (True, 1), (None, 0)])
def test_values_of_different_types_differ(before, after):
    assert diff({"v": before}, {"v": after}) == [FieldChange("v", before, after)]


def test_projection_keeps_only_what_the_manifest_sets():
    manifest = {"spec": {"replicas": 2, "containers": [{"name": "a", "image": "x"}]}}
    live = {
        "spec": {
            "replicas": 3,
            "strategy": {"type": "RollingUpdate"},
            "containers": [
                {"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"},
                {"name": "sidecar", "image": "proxy"},
            ],
        },
        "status": {"replicas": 3},
    }

    assert project(manifest, live) == {
        "spec": {"replicas": 3, "containers": [{"name": "a", "image": "x"}]}
    }


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/acme/x:1.0", True),
        ("ghcr.io/acme/x@sha256:abc", True),
        ("localhost:5000/x:2", True),
        ("localhost:5000/x", False),
        ("x:latest", False),
        ("x", False),
    ],
)
def test_unpinned_images(image, pinned):
    assert (unpinned(image) is None) is pinned
