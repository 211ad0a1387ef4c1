"""The one differ: drift against the server's copy, changes between two documents, projection.

Each table row is (case, one side, other side, expected field changes); ``after`` is always what
the manifest says.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.diff import ABSENT, FieldChange, changes, drift, item_key, project


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": list(containers), **spec}}


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


F = FieldChange
C0 = "spec.containers[name=a]"

# case, desired, live, drift
DRIFT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[FieldChange]]] = [
    ("keyed list reordered", pod(c("a"), c("b")), pod(c("b"), c("a")), []),
    (
        "keyed item changed",
        pod(c("a", image="x:1"), c("b")),
        pod(c("b"), c("a", image="x:2")),
        [F(f"{C0}.image", "x:2", "x:1")],
    ),
    ("keyed item added by another manager", pod(c("a")), pod(c("a"), c("sidecar")), []),
    (
        "keyed item missing",
        pod(c("a"), c("b")),
        pod(c("a")),
        [F("spec.containers[name=b]", ABSENT, c("b"))],
    ),
    (
        "mountPath is the key of volumeMounts",
        pod(c("a", volumeMounts=[{"name": "v", "mountPath": "/x"}])),
        pod(c("a", volumeMounts=[{"name": "v", "mountPath": "/y"}])),
        [F(f"{C0}.volumeMounts[mountPath=/x]", ABSENT, {"name": "v", "mountPath": "/x"})],
    ),
    (
        "ports pair by port and protocol",
        pod(c("a", ports=[{"containerPort": 80, "name": "web"}])),
        pod(c("a", ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"}])),
        [F(f"{C0}.ports[containerPort=80/TCP].name", "http", "web")],
    ),
    ("atomic list, same items", pod(c("a", args=["-v", "1"])), pod(c("a", args=["-v", "1"])), []),
    (
        "atomic list reordered",
        pod(c("a", args=["-v", "1"])),
        pod(c("a", args=["1", "-v"])),
        [F(f"{C0}.args[0]", "1", "-v"), F(f"{C0}.args[1]", "-v", "1")],
    ),
    (
        "atomic list of another length drifts whole",
        pod(c("a", args=["-v"])),
        pod(c("a", args=["-v", "--debug"])),
        [F(f"{C0}.args", ["-v", "--debug"], ["-v"])],
    ),
    (
        "duplicate keys make a list atomic",
        {"env": [{"name": "A"}, {"name": "A"}]},
        {"env": [{"name": "A"}]},
        [F("env", [{"name": "A"}], [{"name": "A"}, {"name": "A"}])],
    ),
    (
        "quantities under resources compare canonically",
        pod(c("a", resources={"limits": {"cpu": "1000m", "memory": "1Gi"}})),
        pod(c("a", resources={"limits": {"cpu": 1, "memory": "1024Mi"}})),
        [],
    ),
    (
        "a changed quantity drifts",
        pod(c("a", resources={"requests": {"cpu": "500m"}})),
        pod(c("a", resources={"requests": {"cpu": "250m"}})),
        [F(f"{C0}.resources.requests.cpu", "250m", "500m")],
    ),
    (
        "quantities elsewhere compare exactly",
        {"data": {"cpu": "1000m"}},
        {"data": {"cpu": "1"}},
        [F("data.cpu", "1", "1000m")],
    ),
    (
        "a port and a port name differ",
        {"spec": {"targetPort": 8080}},
        {"spec": {"targetPort": "8080"}},
        [F("spec.targetPort", "8080", 8080)],
    ),
    ("true is not 1", {"spec": {"x": True}}, {"spec": {"x": 1}}, [F("spec.x", 1, True)]),
    ("2 and 2.0 are one number", {"spec": {"x": 2}}, {"spec": {"x": 2.0}}, []),
    (
        "empty values match absent fields",
        {"spec": {"a": [], "b": {}, "c": "", "d": 0, "e": False}},
        {"spec": {}},
        [],
    ),
    (
        "an empty value set by hand is drift",
        {"spec": {"e": False}},
        {"spec": {"e": True}},
        [F("spec.e", True, False)],
    ),
    ("a null in the manifest sets nothing", {"spec": {"x": None}}, {"spec": {"x": 3}}, []),
    (
        "a null live value is absent",
        {"spec": {"x": 3}},
        {"spec": {"x": None}},
        [F("spec.x", ABSENT, 3)],
    ),
    (
        "a map replaced by a scalar",
        {"spec": {"x": {"y": 1}}},
        {"spec": {"x": "y"}},
        [F("spec.x", "y", {"y": 1})],
    ),
    (
        "status and server fields are never compared",
        {"spec": {}},
        {"spec": {"d": 1}, "status": {"ok": 1}},
        [],
    ),
    (
        "of metadata only labels and annotations the manifest sets",
        {"metadata": {"name": "x", "labels": {"app": "a"}}},
        {
            "metadata": {
                "name": "x",
                "uid": "1",
                "labels": {"app": "b", "extra": "1"},
                "annotations": {"a": "b"},
            }
        },
        [F("metadata.labels.app", "b", "a")],
    ),
    (
        "keys that are not one word are quoted",
        {"metadata": {"annotations": {"mlops/spec-hash": "a"}}},
        {"metadata": {"annotations": {"mlops/spec-hash": "b"}}},
        [F('metadata.annotations["mlops/spec-hash"]', "b", "a")],
    ),
]


@pytest.mark.parametrize(
    ("case", "desired", "live", "expected"), DRIFT_CASES, ids=[row[0] for row in DRIFT_CASES]
)
def test_drift(
    case: str, desired: dict[str, Any], live: dict[str, Any], expected: list[FieldChange]
) -> None:
    assert drift(desired, live) == expected


# case, before, after, changes
CHANGE_CASES: list[tuple[str, Any, Any, list[FieldChange]]] = [
    ("keyed list reordered", pod(c("a"), c("b")), pod(c("b"), c("a")), []),
    (
        "keyed items pair by key",
        pod(c("a", image="x:1"), c("b", image="y:1")),
        pod(c("b", image="y:2"), c("a", image="x:1")),
        [F("spec.containers[name=b].image", "y:1", "y:2")],
    ),
    (
        "added and removed items are one change each, head's first",
        {"env": [{"name": "A", "value": "1"}]},
        {"env": [{"name": "B", "value": "2"}]},
        [
            F("env[name=B]", ABSENT, {"name": "B", "value": "2"}),
            F("env[name=A]", {"name": "A", "value": "1"}, ABSENT),
        ],
    ),
    (
        "an item added to an empty keyed list",
        {"env": []},
        {"env": [{"name": "A"}]},
        [F("env[name=A]", ABSENT, {"name": "A"})],
    ),
    (
        "atomic lists compare by index",
        {"args": ["--a", "1"]},
        {"args": ["--a", "2", "--b"]},
        [F("args[1]", "1", "2"), F("args[2]", ABSENT, "--b")],
    ),
    (
        "lists the table does not know pair by name",
        {"steps": [{"name": "prep", "image": "p"}, {"name": "train", "image": "t:1"}]},
        {"steps": [{"name": "train", "image": "t:2"}, {"name": "prep", "image": "p"}]},
        [F("steps[name=train].image", "t:1", "t:2")],
    ),
    (
        "ports pair by port and protocol",
        {"ports": [{"port": 80, "name": "http"}]},
        {"ports": [{"port": 80, "name": "web"}]},
        [F("ports[port=80/TCP].name", "http", "web")],
    ),
    (
        "a respelled quantity is a change",
        {"resources": {"cpu": "1"}},
        {"resources": {"cpu": "1000m"}},
        [F("resources.cpu", "1", "1000m")],
    ),
    ("a number and a string differ", {"v": 1}, {"v": "1"}, [F("v", 1, "1")]),
    ("true and 1 differ", {"v": True}, {"v": 1}, [F("v", True, 1)]),
    ("null and 0 differ", {"v": None}, {"v": 0}, [F("v", None, 0)]),
    ("an empty value is not an absent one", {}, {"v": []}, [F("v", ABSENT, [])]),
    (
        "a removed subtree is one change",
        {"a": {"b": {"c": 1}}},
        {},
        [F("a", {"b": {"c": 1}}, ABSENT)],
    ),
]


@pytest.mark.parametrize(
    ("case", "before", "after", "expected"), CHANGE_CASES, ids=[row[0] for row in CHANGE_CASES]
)
def test_changes(case: str, before: Any, after: Any, expected: list[FieldChange]) -> None:
    assert changes(before, after) == expected


def test_drift_and_changes_name_a_field_alike() -> None:
    """A drift reason in status and a line of ``reconciler plan`` point at the same path."""
    desired = pod(c("a", env=[{"name": "LOG", "value": "info"}], ports=[{"containerPort": 80}]))
    live = pod(
        c("a", env=[{"name": "LOG", "value": "debug"}], ports=[{"containerPort": 80, "name": "x"}])
    )
    desired["spec"]["containers"][0]["ports"][0]["name"] = "y"
    assert [f.path for f in drift(desired, live)] == [f.path for f in changes(live, desired)]


def test_projection_keeps_only_what_the_manifest_sets() -> None:
    manifest = {"spec": {"replicas": 2, "containers": [{"name": "a", "image": "x"}], "args": ["1"]}}
    live = {
        "spec": {
            "replicas": 3,
            "strategy": {"type": "RollingUpdate"},
            "containers": [
                {"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"},
                {"name": "sidecar", "image": "proxy"},
            ],
            "args": ["1", "2"],
        },
        "status": {"replicas": 3},
    }

    assert project(manifest, live) == {
        "spec": {"replicas": 3, "containers": [{"name": "a", "image": "x"}], "args": ["1", "2"]}
    }


@pytest.mark.parametrize(
    ("field", "item", "by_name", "key"),
    [
        ("containers", {"name": "a"}, False, "name=a"),
        ("volumeMounts", {"name": "v", "mountPath": "/m"}, False, "mountPath=/m"),
        ("ports", {"containerPort": 8080, "protocol": "UDP"}, False, "containerPort=8080/UDP"),
        ("ports", {"name": "http"}, True, None),
        ("tolerations", {"key": "gpu"}, False, None),
        ("steps", {"name": "train"}, False, None),
        ("steps", {"name": "train"}, True, "name=train"),
        ("env", "A", False, None),
    ],
)
def test_item_key(field: str, item: Any, by_name: bool, key: str | None) -> None:
    assert item_key(field, item, by_name=by_name) == key
