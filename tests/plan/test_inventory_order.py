"""Object refs, ownership labels and the apply/prune rank table."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.cluster.inventory import ObjectRef, is_managed, owner_spec
from reconciler.cluster.order import UNKNOWN_RANK, apply_order, prune_order, rank


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


@pytest.mark.parametrize(
    ("labels", "managed"),
    [
        ({"app.kubernetes.io/managed-by": "reconciler"}, True),
        ({"app.kubernetes.io/managed-by": "Helm"}, False),
        ({}, False),
    ],
)
def test_is_managed(labels: dict[str, str], managed: bool) -> None:
    assert is_managed(obj("v1", "ConfigMap", "c", **labels)) is managed


def test_is_managed_tolerates_missing_metadata() -> None:
    assert is_managed({"kind": "ConfigMap"}) is False
    assert is_managed({"metadata": {"labels": None}}) is False


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
