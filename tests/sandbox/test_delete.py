"""Deletion: finalizers, propagation policies, garbage collection, namespaces."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from reconciler_sandbox.core import Sandbox
from tests.sandbox.conftest import job
from tests.sandbox.rawhttp import request
from tests.waiting import wait_for


def owned_map(core: client.CoreV1Api, namespace: str, name: str, owner: object) -> None:
    meta = owner.metadata  # type: ignore[attr-defined]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": meta.name, "uid": meta.uid}
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": name, "ownerReferences": [ref]}}
    )


def names(core: client.CoreV1Api, namespace: str) -> set[str]:
    return {i.metadata.name for i in core.list_namespaced_config_map(namespace).items}


def test_finalizer_keeps_object_until_removed(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cm", "finalizers": ["example.com/keep"]}}
    )
    core.delete_namespaced_config_map("cm", namespace)
    kept = core.read_namespaced_config_map("cm", namespace)
    assert kept.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("cm", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("cm", namespace)
    assert caught.value.status == 404


def test_background_deletion_collects_dependents(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owned_map(core, namespace, "child", owner)
    child = core.read_namespaced_config_map("child", namespace)
    owned_map(core, namespace, "grandchild", child)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")
    assert names(core, namespace) == set()


def test_foreground_deletion(core: client.CoreV1Api, namespace: str, sandbox: Sandbox) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owned_map(core, namespace, "child", owner)
    response = request(
        sandbox,
        "DELETE",
        f"/api/v1/namespaces/{namespace}/configmaps/owner",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
    )
    body = response.json()
    assert (
        body["metadata"]["finalizers"] == ["foregroundDeletion"]
        and body["metadata"]["deletionTimestamp"]
    )
    assert names(core, namespace) == set()


def test_orphan_deletion_keeps_dependents(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owned_map(core, namespace, "child", owner)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    child = core.read_namespaced_config_map("child", namespace)
    assert child.metadata.owner_references is None


def test_job_delete_without_policy_orphans_pods_with_warning(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str, sandbox: Sandbox
) -> None:
    batch.create_namespaced_job(namespace, job("train"))
    wait_for(lambda: core.list_namespaced_pod(namespace).items, what="the job's pod")
    response = request(sandbox, "DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/train")
    assert response.status == 200 and response.json()["status"] == "Success"
    assert response.warnings == [
        '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background '
        'to remove them or set propagationPolicy=Orphan to suppress this warning"'
    ]
    pods = core.list_namespaced_pod(namespace).items
    assert pods and all(p.metadata.owner_references is None for p in pods)


def test_job_delete_in_background_removes_pods(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job("train"))
    wait_for(lambda: core.list_namespaced_pod(namespace).items, what="the job's pod")
    batch.delete_namespaced_job("train", namespace, propagation_policy="Background")
    assert core.list_namespaced_pod(namespace).items == []


def test_delete_precondition(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map(
            "cm",
            namespace,
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1")),
        )
    assert caught.value.status == 409


def test_delete_collection(core: client.CoreV1Api, namespace: str) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=x")
    assert names(core, namespace) == {"c"}


def test_namespace_deletion_removes_contents(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "cm"}})
    core.delete_namespace("doomed")
    assert (
        core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items
        == []
    )
    with pytest.raises(ApiException):
        core.read_namespace("doomed")
