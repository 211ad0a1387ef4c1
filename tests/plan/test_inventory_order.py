"""Object refs, ownership (identity, tracking id, inventory) and the apply/prune rank table."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconciler.inventory import (
    INSTANCE_PATTERN,
    Inventory,
    ObjectRef,
    default_instance,
    is_owned,
    normalised_repository,
    owner_spec,
    stamp,
    tracking_id,
)
from reconciler.order import UNKNOWN_RANK, apply_order, prune_order, rank


def obj(api_version: str, kind: str, name: str, namespace: str = "ml-team", **labels: str) -> Any:
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def test_ref_from_object() -> None:
    ref = ObjectRef.from_object(obj("apps/v1", "Deployment", "fraud-detector"))
    assert ref == ObjectRef("apps/v1", "Deployment", "ml-team", "fraud-detector")
    assert str(ref) == "apps/v1 Deployment ml-team/fraud-detector"
    assert ref.group == "apps"
    assert ref.key == ("apps", "Deployment", "ml-team", "fraud-detector")


def test_cluster_scoped_and_core_refs() -> None:
    ref = ObjectRef.from_object(obj("v1", "Namespace", "ml-team", namespace=""))
    assert (ref.namespace, ref.group, str(ref)) == ("", "", "v1 Namespace ml-team")


def test_refs_sort() -> None:
    a = ObjectRef("v1", "ConfigMap", "a", "x")
    b = ObjectRef("v1", "ConfigMap", "b", "a")
    assert sorted([b, a]) == [a, b]


def ours(name: str, namespace: str = "ml-team", instance: str = "team-a", **labels: str) -> Any:
    return stamp(obj("apps/v1", "Deployment", name, namespace, **labels), instance)


def test_stamp_adds_the_instance_label_and_a_tracking_id_naming_the_object() -> None:
    stamped = ours("fraud", **{"app.kubernetes.io/managed-by": "reconciler"})
    metadata = stamped["metadata"]
    assert metadata["labels"] == {
        "app.kubernetes.io/managed-by": "reconciler",
        "mlops/instance": "team-a",
    }
    assert metadata["annotations"] == {"mlops/tracking-id": "team-a:apps/Deployment:ml-team/fraud"}
    assert tracking_id("x", ObjectRef("v1", "Service", "ns", "s")) == "x:/Service:ns/s"


def test_owned_only_with_our_tracking_id_for_that_very_object() -> None:
    assert is_owned(ours("fraud"), "team-a")
    assert not is_owned(ours("fraud"), "team-b")  # another installation's
    managed = {
        "app.kubernetes.io/managed-by": "reconciler",
        "mlops/spec-kind": "ModelDeployment",
        "mlops/spec-name": "fraud",
    }
    assert not is_owned(obj("apps/v1", "Deployment", "fraud", **managed), "team-a")
    # The annotation copied onto another object names the object it came from.
    copied = obj("apps/v1", "Deployment", "other", **managed)
    copied["metadata"]["annotations"] = ours("fraud")["metadata"]["annotations"]
    assert not is_owned(copied, "team-a")
    moved = ours("fraud")
    moved["metadata"]["namespace"] = "team-b"
    assert not is_owned(moved, "team-a")
    assert not is_owned({"kind": "Deployment"}, "team-a")


def test_inventory_prunes_only_owned_and_recorded_objects() -> None:
    live = ours("fraud")
    live["metadata"]["uid"] = "u-1"
    ref = ObjectRef.from_object(live)
    assert Inventory.of("team-a", [(ref, "u-1")]).may_prune(live)
    # Recreated under the same name since it was recorded: another object.
    assert not Inventory.of("team-a", [(ref, "u-0")]).may_prune(live)
    # Records written before uids were kept name the address.
    assert Inventory.of("team-a", [(ref, "")]).may_prune(live)
    # Created but never recorded (a crash before the status write): left, not pruned.
    assert not Inventory("team-a").may_prune(live)
    # Recorded, but someone else's now.
    assert not Inventory.of("team-b", [(ref, "u-1")]).may_prune(live)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://github.com/acme/specs.git", "https://github.com/acme/specs", True),
        ("https://user:s3cret@github.com/acme/specs.git", "git@github.com:acme/specs.git", True),
        ("ssh://git@GitHub.com/acme/specs.git", "https://github.com/acme/specs/", True),
        ("https://github.com/acme/specs.git", "https://github.com/acme/other.git", False),
        ("https://github.com/acme/specs.git", "https://gitlab.com/acme/specs.git", False),
    ],
)
def test_default_instance_follows_the_repository(first: str, second: str, same: bool) -> None:
    assert (default_instance(first, "main") == default_instance(second, "main")) is same
    assert default_instance(first, "main") != default_instance(first, "staging")
    assert re.fullmatch(INSTANCE_PATTERN, default_instance(first, "main"))


def test_default_instance_never_contains_credentials(tmp_path) -> None:
    assert "s3cret" not in normalised_repository("https://user:s3cret@example.com/a.git")
    assert normalised_repository(str(tmp_path / "x" / ".." / "repo")) == str(tmp_path / "repo")


@pytest.mark.parametrize(
    ("namespace", "labels", "owner"),
    [
        (
            "ml-team",
            {"mlops/spec-kind": "ModelDeployment", "mlops/spec-name": "fraud"},
            ("ModelDeployment", "ml-team", "fraud"),
        ),
        (
            "",
            {
                "mlops/spec-kind": "ModelDeployment",
                "mlops/spec-name": "fraud",
                "mlops/spec-namespace": "ml-team",
            },
            ("ModelDeployment", "ml-team", "fraud"),
        ),
        ("ml-team", {"mlops/spec-kind": "ModelDeployment"}, None),
        ("ml-team", {}, None),
    ],
)
def test_owner_spec(
    namespace: str, labels: dict[str, str], owner: tuple[str, str, str] | None
) -> None:
    assert owner_spec(obj("v1", "Service", "fraud", namespace=namespace, **labels)) == owner


def test_rank_table() -> None:
    order = [
        rank("", "Namespace"),
        rank("", "ConfigMap"),
        rank("batch", "Job"),
        rank("apps", "Deployment"),
        rank("serving.kserve.io", "InferenceService"),
        rank("example.com", "Widget"),
    ]
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    assert rank("example.com", "Widget") == UNKNOWN_RANK
    # The group is part of the key: a Job of another group is not a batch Job.
    assert rank("example.com", "Job") == UNKNOWN_RANK


def test_apply_order_is_by_rank_then_name() -> None:
    objects = [
        obj("apps/v1", "Deployment", "b"),
        obj("example.com/v1", "Widget", "w"),
        obj("apps/v1", "Deployment", "a"),
        obj("v1", "Namespace", "ml-team", namespace=""),
        obj("batch/v1", "Job", "train"),
    ]
    assert [(o["kind"], o["metadata"]["name"]) for o in apply_order(objects)] == [
        ("Namespace", "ml-team"),
        ("Job", "train"),
        ("Deployment", "a"),
        ("Deployment", "b"),
        ("Widget", "w"),
    ]


def test_prune_order_reverses_the_ranks() -> None:
    refs = [
        ObjectRef("v1", "Namespace", "", "ml-team"),
        ObjectRef("apps/v1", "Deployment", "ml-team", "a"),
        ObjectRef("example.com/v1", "Widget", "ml-team", "w"),
        ObjectRef("apps/v1", "Deployment", "ml-team", "b"),
        ObjectRef("batch/v1", "Job", "ml-team", "train"),
    ]
    assert [(r.kind, r.name) for r in prune_order(refs)] == [
        ("Widget", "w"),
        ("Deployment", "a"),
        ("Deployment", "b"),
        ("Job", "train"),
        ("Namespace", "ml-team"),
    ]
