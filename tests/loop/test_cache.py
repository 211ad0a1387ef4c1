"""The watch cache against the sandbox: what it holds, what a read hands out."""

from __future__ import annotations

from kubernetes import client as k8s

from reconciler import labels
from reconciler.cluster.cache import WatchCache
from reconciler.cluster.client import KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.inventory import ObjectRef
from tests.waiting import wait_for

OWNER = ("ModelDeployment", "default", "model-a")


def config_map(name: str, data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                labels.MANAGED_BY: labels.MANAGER,
                labels.SPEC_KIND: OWNER[0],
                labels.SPEC_NAME: OWNER[2],
            },
        },
        "data": data,
    }


def test_reads_are_fresh_copies_that_follow_the_watch(sandbox):
    client = KubeClient(sandbox.api_client())
    core = k8s.CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map("default", config_map("first", {"model": "v1"}))
    cache = WatchCache(client, Discovery(client), [("v1", "ConfigMap")], labels.MANAGED_SELECTOR)
    cache.start()
    try:
        first = ObjectRef("v1", "ConfigMap", "default", "first")
        held = cache.get(first)
        assert held is not None and held["data"] == {"model": "v1"}
        assert "managedFields" not in held["metadata"]
        held["data"]["model"] = "changed by a reader"
        assert cache.get(first)["data"] == {"model": "v1"}

        core.create_namespaced_config_map("default", config_map("second", {"model": "v2"}))
        core.patch_namespaced_config_map("first", "default", {"data": {"model": "v3"}})
        wait_for(
            lambda: [o["data"]["model"] for o in cache.owned_by(OWNER)] == ["v3", "v2"],
            what="both objects, the first one updated",
        )
        owned = cache.owned_by(OWNER)
        assert cache.versions(OWNER) == [o["metadata"]["resourceVersion"] for o in owned]

        # An answer whose resourceVersion the cache already holds is not news: it is kept as is.
        cache.record({**owned[0], "data": {"model": "not what the server said"}})
        assert cache.owned_by(OWNER) == owned
        # Nor is an answer older than what the watch already delivered.
        earlier = str(int(owned[0]["metadata"]["resourceVersion"]) - 1)
        stale = {**owned[0], "metadata": {**owned[0]["metadata"], "resourceVersion": earlier}}
        cache.record({**stale, "data": {"model": "an older answer"}})
        assert cache.owned_by(OWNER) == owned

        core.delete_namespaced_config_map("second", "default")
        wait_for(lambda: len(cache.owned_by(OWNER)) == 1, what="the deleted object forgotten")
        assert cache.get(ObjectRef("v1", "ConfigMap", "default", "second")) is None
        assert cache.owners() == {OWNER}
    finally:
        cache.stop()
