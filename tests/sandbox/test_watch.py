"""List paging, selectors and watch streams through the official client and raw HTTP."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from reconciler_sandbox.core import Sandbox
from tests.sandbox.conftest import deployment
from tests.sandbox.rawhttp import connect, raw_watch, request


def make_maps(core: client.CoreV1Api, namespace: str, count: int) -> None:
    for i in range(count):
        labels = {"tier": "a" if i % 2 == 0 else "b", "n": str(i)}
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"cm{i}", "labels": labels}}
        )


def test_label_selectors(core: client.CoreV1Api, namespace: str) -> None:
    make_maps(core, namespace, 5)

    def names(selector: str) -> list[str]:
        return [
            i.metadata.name
            for i in core.list_namespaced_config_map(namespace, label_selector=selector).items
        ]

    assert names("tier=a") == ["cm0", "cm2", "cm4"]
    assert names("tier!=a") == ["cm1", "cm3"]
    assert names("n in (1,2)") == ["cm1", "cm2"]
    assert names("n notin (1,2),tier=a") == ["cm0", "cm4"]
    assert names("tier") == [f"cm{i}" for i in range(5)]
    assert names("!tier") == []
    with pytest.raises(ApiException) as caught:
        names("tier in ()")
    assert caught.value.status == 400


def test_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    make_maps(core, namespace, 3)
    found = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.name=cm1,metadata.namespace={namespace}"
    )
    assert [i.metadata.name for i in found.items] == ["cm1"]
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(namespace, field_selector="spec.foo=1")
    assert caught.value.status == 400


def test_limit_and_continue(core: client.CoreV1Api, namespace: str) -> None:
    make_maps(core, namespace, 5)
    first = core.list_namespaced_config_map(namespace, limit=2)
    assert (
        len(first.items) == 2
        and first.metadata._continue
        and first.metadata.remaining_item_count == 3
    )
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert seen == [f"cm{i}" for i in range(5)]
    assert int(first.metadata.resource_version) > 0


def test_watch_from_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("a", namespace)
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=1,
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:
            break
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_version_starts_with_current_state(
    core: client.CoreV1Api, namespace: str
) -> None:
    make_maps(core, namespace, 2)
    stream = watch.Watch()
    seen = []
    for event in stream.stream(core.list_namespaced_config_map, namespace, timeout_seconds=1):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "late"}})
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "cm0"), ("ADDED", "cm1"), ("ADDED", "late")]


def test_watch_with_selector_turns_modified_into_added_and_deleted(
    core: client.CoreV1Api, namespace: str
) -> None:
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "x", "labels": {"on": "no"}}}
    )
    core.patch_namespaced_config_map("x", namespace, {"metadata": {"labels": {"on": "yes"}}})
    core.patch_namespaced_config_map("x", namespace, {"metadata": {"labels": {"on": "no"}}})
    events = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="on=yes",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    ]
    assert events == ["ADDED", "DELETED"]


def test_watch_across_namespaces(apps: client.AppsV1Api, namespace: str) -> None:
    listed = apps.list_deployment_for_all_namespaces()
    apps.create_namespaced_deployment(namespace, deployment("web"))
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_deployment_for_all_namespaces,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=2,
    ):
        if event["object"].metadata.namespace == namespace:
            stream.stop()
            assert event["type"] == "ADDED"
            break
    else:
        pytest.fail("no event for the new deployment")


def test_watch_times_out_cleanly_with_bookmarks(sandbox: Sandbox, namespace: str) -> None:
    rv = request(sandbox, "GET", f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"][
        "resourceVersion"
    ]
    events = raw_watch(
        sandbox,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={rv}"
        "&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_send_initial_events_ends_with_annotated_bookmark(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    make_maps(core, namespace, 2)
    events = raw_watch(
        sandbox,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_expired_resource_version_is_an_error_event(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    old = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    request(sandbox, "POST", "/sandbox/compact")
    events = raw_watch(
        sandbox, f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={old}"
    )
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, namespace, resource_version=old, timeout_seconds=1
            )
        )
    assert caught.value.status == 410


def test_watch_ends_when_client_leaves(sandbox: Sandbox, namespace: str) -> None:
    """A watcher that goes away frees its server thread (checked through a second watch)."""
    conn = connect(sandbox)
    conn.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true",
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    assert conn.getresponse().status == 200
    conn.close()
    done = threading.Event()

    def second() -> None:
        raw_watch(sandbox, f"/api/v1/namespaces/{namespace}/configmaps?watch=true&timeoutSeconds=1")
        done.set()

    threading.Thread(target=second, daemon=True).start()
    assert done.wait(5)
