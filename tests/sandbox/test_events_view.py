"""Core v1 Events are a view of events.k8s.io/v1 Events: one set of objects, two versions.

As on kube-apiserver, an Event written through either version is read, selected, watched,
patched and deleted through the other, with the fields renamed by the upstream conversion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler_sandbox.core import Sandbox
from tests.sandbox.rawhttp import connect, request

CORE = "v1"
EVENTS = "events.k8s.io/v1"
# (events.k8s.io/v1 field, core v1 field): the upstream conversion, written out independently.
MAPPING = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("action", "action"),
    ("reason", "reason"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("related", "related"),
]
OTHER = {CORE: EVENTS, EVENTS: CORE}


def path(version: str, namespace: str, name: str = "") -> str:
    prefix = "/api/v1" if version == CORE else f"/apis/{version}"
    return f"{prefix}/namespaces/{namespace}/events" + (f"/{name}" if name else "")


def fields(namespace: str, deployment: str = "web", **changes: Any) -> dict[str, Any]:
    """Every field of an Event, by its events.k8s.io/v1 name."""
    return {
        "regarding": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": deployment,
            "uid": f"uid-{deployment}",
        },
        "note": f"ModelDeployment/{deployment} created",
        "reportingController": "reconciler",
        "reportingInstance": "reconciler-0",
        "deprecatedSource": {"component": "legacy-recorder"},
        "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2025-01-01T00:01:00Z",
        "deprecatedCount": 3,
        "action": "Apply",
        "reason": "Created",
        "type": "Normal",
        "eventTime": "2025-01-01T00:00:00.123456Z",
        "series": {"count": 2, "lastObservedTime": "2025-01-01T00:02:00.000000Z"},
        "related": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": "p"},
        **changes,
    }


def body(version: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
    renamed = dict(MAPPING) if version == CORE else {e: e for e, _ in MAPPING}
    event = {renamed[field]: value for field, value in values.items()}
    return {"apiVersion": version, "kind": "Event", "metadata": {"name": name}, **event}


def post(sandbox: Sandbox, version: str, namespace: str, name: str, **changes: Any) -> dict:
    values = fields(namespace, **changes)
    created = request(sandbox, "POST", path(version, namespace), body(version, name, values))
    assert created.status == 201, created.body
    return values


def listed(sandbox: Sandbox, version: str, namespace: str, selector: str = "") -> list[dict]:
    query = f"?fieldSelector={selector}" if selector else ""
    found = request(sandbox, "GET", path(version, namespace) + query)
    assert found.status == 200, found.body
    document = found.json()
    assert (document["apiVersion"], document["kind"]) == (version, "EventList")
    return document["items"]


def assert_mapped(item: dict, version: str, values: dict[str, Any]) -> None:
    assert (item["apiVersion"], item["kind"]) == (version, "Event")
    for events_field, core_field in MAPPING:
        name = core_field if version == CORE else events_field
        assert item.get(name) == values[events_field], name


@pytest.mark.parametrize("written, read", [(EVENTS, CORE), (CORE, EVENTS)])
def test_an_event_written_at_one_version_is_read_at_the_other(
    sandbox: Sandbox, namespace: str, written: str, read: str
) -> None:
    values = post(sandbox, written, namespace, "ev1")
    [item] = listed(sandbox, read, namespace)
    assert_mapped(item, read, values)
    got = request(sandbox, "GET", path(read, namespace, "ev1")).json()
    assert_mapped(got, read, values)
    same = request(sandbox, "GET", path(written, namespace, "ev1")).json()
    assert_mapped(same, written, values)
    # One object: the same identity and resourceVersion through both versions.
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        assert got["metadata"][key] == same["metadata"][key]


# (version selected at, selector with NS for the test's namespace, events selected: "a" regards
# deployment web, "b" pod other)
SELECTORS = [
    (CORE, "involvedObject.kind=Deployment", ["a"]),
    (CORE, "involvedObject.name=web", ["a"]),
    (CORE, "involvedObject.kind=Deployment,involvedObject.name=web", ["a"]),
    (CORE, "involvedObject.namespace=NS", ["a", "b"]),
    (CORE, "involvedObject.uid=uid-web", ["a"]),
    (CORE, "involvedObject.apiVersion=v1", ["b"]),
    (CORE, "involvedObject.name!=web", ["b"]),
    (CORE, "reason=Created", ["a"]),
    (CORE, "type=Warning", ["b"]),
    (CORE, "source=legacy-recorder", ["a"]),
    # Without a legacy source, the reporting controller stands in for it.
    (CORE, "source=other-controller", ["b"]),
    (CORE, "reportingComponent=reconciler", ["a"]),
    (CORE, "metadata.name=b", ["b"]),
    (EVENTS, "regarding.kind=Pod", ["b"]),
    (EVENTS, "regarding.name=web,reason=Created", ["a"]),
    (EVENTS, "reportingController=other-controller", ["b"]),
    (EVENTS, "type=Normal", ["a"]),
]


@pytest.mark.parametrize("version, selector, expected", SELECTORS)
def test_field_selectors_of_both_versions(
    sandbox: Sandbox, namespace: str, version: str, selector: str, expected: list[str]
) -> None:
    post(sandbox, EVENTS, namespace, "a")
    regarding = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": "other"}
    post(
        sandbox,
        EVENTS,
        namespace,
        "b",
        regarding=regarding,
        reason="BackOff",
        type="Warning",
        reportingController="other-controller",
        deprecatedSource={},
    )
    selector = selector.replace("NS", namespace)
    assert [item["metadata"]["name"] for item in listed(sandbox, version, namespace, selector)] == (
        expected
    )


@pytest.mark.parametrize(
    "version, field", [(CORE, "regarding.name"), (EVENTS, "involvedObject.name")]
)
def test_a_field_of_the_other_version_is_refused(
    sandbox: Sandbox, namespace: str, version: str, field: str
) -> None:
    refused = request(sandbox, "GET", path(version, namespace) + f"?fieldSelector={field}=web")
    assert refused.status == 400
    assert refused.json()["message"] == f"field label not supported: {field}"


def watch_first(sandbox: Sandbox, version: str, namespace: str, since: str) -> dict:
    """The first event of a watch from ``since`` (it was written before the watch began)."""
    conn = connect(sandbox)
    try:
        query = f"?watch=true&resourceVersion={since}&timeoutSeconds=2"
        conn.request(
            "GET",
            path(version, namespace) + query,
            headers={"Authorization": f"Bearer {sandbox.token}"},
        )
        response = conn.getresponse()
        assert response.status == 200
        line = response.readline()
    finally:
        conn.close()
    assert line.strip(), "the watch ended without an event"
    return json.loads(line)


@pytest.mark.parametrize("written, watched", [(EVENTS, CORE), (CORE, EVENTS)])
def test_a_watch_at_one_version_sees_writes_through_the_other(
    sandbox: Sandbox, namespace: str, written: str, watched: str
) -> None:
    since = request(sandbox, "GET", path(watched, namespace)).json()["metadata"]["resourceVersion"]
    values = post(sandbox, written, namespace, "ev1")
    event = watch_first(sandbox, watched, namespace, since)
    assert event["type"] == "ADDED"
    assert_mapped(event["object"], watched, values)


@pytest.mark.parametrize("written, other", [(EVENTS, CORE), (CORE, EVENTS)])
def test_patch_apply_and_delete_through_either_version(
    sandbox: Sandbox, namespace: str, written: str, other: str
) -> None:
    post(sandbox, other, namespace, "ev1")
    note, count = ("message", "count") if written == CORE else ("note", "deprecatedCount")
    patched = request(
        sandbox,
        "PATCH",
        path(written, namespace, "ev1"),
        {note: "patched", count: 7, "series": {"count": 9}},
        content_type="application/merge-patch+json",
    )
    assert patched.status == 200, patched.body
    assert patched.json()[note] == "patched"
    seen = request(sandbox, "GET", path(other, namespace, "ev1")).json()
    assert_mapped(
        seen,
        other,
        fields(
            namespace,
            note="patched",
            deprecatedCount=7,
            series={"count": 9, "lastObservedTime": "2025-01-01T00:02:00.000000Z"},
        ),
    )

    applied_values = fields(namespace, deployment="api")
    applied = request(
        sandbox,
        "PATCH",
        path(written, namespace, "ev2") + "?fieldManager=test",
        body(written, "ev2", applied_values),
        content_type="application/apply-patch+yaml",
    )
    assert applied.status == 201, applied.body
    assert_mapped(
        request(sandbox, "GET", path(other, namespace, "ev2")).json(), other, applied_values
    )

    for name in ("ev1", "ev2"):
        assert request(sandbox, "DELETE", path(written, namespace, name)).status == 200
        assert request(sandbox, "GET", path(other, namespace, name)).status == 404
    assert listed(sandbox, other, namespace) == []


def test_writing_back_the_core_view_unchanged_is_no_write(sandbox: Sandbox, namespace: str) -> None:
    post(sandbox, EVENTS, namespace, "ev1", deprecatedSource={}, deprecatedCount=0)
    read = request(sandbox, "GET", path(CORE, namespace, "ev1")).json()
    # The view carries the fields a real server always writes, set or not.
    assert (read["source"], read["reportingInstance"]) == ({}, "reconciler-0")
    written = request(sandbox, "PUT", path(CORE, namespace, "ev1"), read)
    assert written.status == 200, written.body
    assert written.json()["metadata"]["resourceVersion"] == read["metadata"]["resourceVersion"]


def kubectl_events(sandbox: Sandbox, cache: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(sandbox.kubeconfig_path),
            "--cache-dir",
            str(cache),
            "events",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_events_lists_events_posted_through_events_k8s_io(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    post(sandbox, EVENTS, namespace, "web.1", note="web was created")
    post(sandbox, EVENTS, namespace, "api.1", deployment="api", note="api was created")
    cache = tmp_path / "kube-cache"
    table = kubectl_events(sandbox, cache, "-n", namespace)
    assert "web was created" in table and "api was created" in table
    document = json.loads(
        kubectl_events(sandbox, cache, "-n", namespace, "--for", "deployment/web", "-o", "json")
    )
    [item] = document["items"]
    assert item["involvedObject"]["name"] == "web"
    assert item["involvedObject"]["kind"] == "Deployment"
    assert (item["message"], item["reportingComponent"]) == ("web was created", "reconciler")
