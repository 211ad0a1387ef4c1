"""CRDs that come and go while the loop runs: watched once installed, dropped once deleted."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from reconciler import labels
from reconciler.cluster.cache import WatchCache, WatchEvent
from reconciler.cluster.client import KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler_sandbox.testing import running_sandbox
from tests.loop.conftest import loop, sandbox  # noqa: F401 - the loop tests' fixtures
from tests.loop.harness import serving, training
from tests.waiting import wait_for

CRDS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
RAYJOB_CRD = CRDS_DIR / "ray.io_rayjobs.yaml"
RAYJOB = ("ray.io/v1", "RayJob")


@pytest.fixture(scope="module")
def rayjob_crd() -> dict[str, Any]:
    if not RAYJOB_CRD.is_file():
        pytest.skip(f"the upstream RayJob CRD is not at {RAYJOB_CRD} (it ships beside the project)")
    # 1.4 MB of schema: the C loader reads it in a second, the pure-Python one in nine.
    return yaml.load(RAYJOB_CRD.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def message_of(loop, name: str) -> str:  # noqa: F811
    return (loop.status("TrainingJob", name) or {}).get("message", "")


def deletions(counters: dict[str, int]) -> dict[str, int]:
    return {
        key: n for key, n in counters.items() if key.startswith(("delete ", "deletecollection "))
    }


@pytest.mark.sandbox_only("starts without the CRD the real control plane always has")
def test_crd_installed_after_start_is_watched_and_one_deleted_is_dropped(loop, rayjob_crd):  # noqa: F811
    loop.commit(
        {
            "training/tune.yaml": training("tune", backend="rayjob", command=["python", "tune.py"]),
            "serving/web.yaml": serving("web"),
        }
    )
    # A short resync: the periodic discovery check is what notices a CRD nobody asked about.
    service = loop.start(resync_interval=0.5)
    loop.wait_phase("ModelDeployment", "web", "Ready")
    missing = loop.wait_phase("TrainingJob", "tune", "Failed")
    assert "kuberay is not installed" in missing["message"]
    assert RAYJOB not in service.engine.cluster.objects.served_kinds

    extensions = k8s.ApiextensionsV1Api(loop.api)
    extensions.create_custom_resource_definition(rayjob_crd)
    # Succeeded is only seen through a watch on RayJobs: the kind is followed without a restart.
    done = loop.wait_phase("TrainingJob", "tune", "Succeeded", timeout=20)
    assert done["runs"][0]["phase"] == "Succeeded"
    assert RAYJOB in service.engine.cluster.objects.served_kinds

    loop.sandbox.reset_counters()
    extensions.delete_custom_resource_definition(rayjob_crd["metadata"]["name"])
    gone = wait_for(
        lambda: "kuberay is not installed" in message_of(loop, "tune"),
        timeout=20,
        what="the spec to report its kind not installed",
    )
    assert gone
    assert loop.status("TrainingJob", "tune")["phase"] == "Failed"
    wait_for(
        lambda: RAYJOB not in service.engine.cluster.objects.served_kinds, what="RayJobs unwatched"
    )
    # Nothing was deleted because a kind disappeared: the other spec's objects are untouched.
    assert deletions(loop.sandbox.counters()) == {"delete customresourcedefinitions": 1}
    assert [
        d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items
    ] == ["web"]
    loop.wait_phase("ModelDeployment", "web", "Ready")


def test_watch_of_a_deleted_crd_stops_cleanly(rayjob_crd):
    """A real API server ends the watches of a deleted CRD; the next watch answers 404."""
    with running_sandbox() as cluster:
        extensions = k8s.ApiextensionsV1Api(cluster.api_client())
        extensions.create_custom_resource_definition(rayjob_crd)
        client = KubeClient(cluster.api_client())
        events: list[WatchEvent] = []
        cache = WatchCache(
            client,
            Discovery(client),
            [RAYJOB, ("v1", "ConfigMap")],
            labels.MANAGED_SELECTOR,
            events.append,
            watch_timeout=1,  # the sandbox keeps a stream open until its timeout
        )
        earlier = set(threading.enumerate())
        cache.start()
        (follower,) = [t for t in set(threading.enumerate()) - earlier if t.name == "watch-rayjobs"]
        try:
            assert set(cache.served_kinds) == {RAYJOB, ("v1", "ConfigMap")}
            extensions.delete_custom_resource_definition(rayjob_crd["metadata"]["name"])
            wait_for(lambda: RAYJOB not in cache.served_kinds, timeout=10, what="RayJob dropped")
            # No retry loop left behind: the RayJob watch thread has ended.
            follower.join(5)
            assert not follower.is_alive()
            assert cache.served_kinds == [("v1", "ConfigMap")]
        finally:
            cache.stop()
            client.close()
