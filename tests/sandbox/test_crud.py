"""Create, read, update, patch; server-set metadata; Status errors; dryRun; subresources."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from reconciler_sandbox.core import Sandbox
from tests.sandbox.conftest import available, deployment, job
from tests.sandbox.rawhttp import request
from tests.waiting import wait_for


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def test_create_sets_server_metadata(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment("web"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version
    assert meta.generation == 1
    assert created.spec.strategy.rolling_update.max_surge == "25%"  # server defaulting
    assert meta.managed_fields[0].manager == "OpenAPI-Generator"
    assert created.status is None or created.status.replicas is None


def test_create_twice_is_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    body = {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    core.create_namespaced_config_map(namespace, body)
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, body)
    status = status_of(caught.value)
    assert caught.value.status == 409 and status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "cm" already exists'
    assert status["details"] == {"name": "cm", "kind": "configmaps"}


def test_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "cm"}})
    status = status_of(caught.value)
    assert caught.value.status == 404 and status["message"] == 'namespaces "nowhere" not found'


def test_get_missing_is_not_found_with_details(apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("ghost", namespace)
    status = status_of(caught.value)
    assert (
        status["reason"] == "NotFound" and status["message"] == 'deployments.apps "ghost" not found'
    )
    assert status["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_update_with_stale_resource_version_conflicts(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(lambda: available(apps, namespace, "web") == 1)
    created = apps.read_namespaced_deployment("web", namespace)
    created.spec.replicas = 3
    apps.replace_namespaced_deployment("web", namespace, created)
    created.spec.replicas = 4
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("web", namespace, created)
    assert caught.value.status == 409
    assert status_of(caught.value)["message"] == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_generation_follows_spec_and_annotations(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    labelled = apps.patch_namespaced_deployment(
        "web", namespace, {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled.metadata.generation == 1
    annotated = apps.patch_namespaced_deployment(
        "web", namespace, {"metadata": {"annotations": {"x": "y"}}}
    )
    assert annotated.metadata.generation == 2
    scaled = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 5}})
    assert scaled.metadata.generation == 3


def test_config_map_has_no_generation(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    assert created.metadata.generation is None


def test_noop_write_keeps_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    same = core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "1"}})
    assert same.metadata.resource_version == created.metadata.resource_version
    changed = core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "2"}})
    assert int(changed.metadata.resource_version) > int(created.metadata.resource_version)


def test_canonical_quantities(core: client.CoreV1Api, namespace: str) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1",
                    "resources": {"requests": {"cpu": "1000m", "memory": "1024Mi"}},
                }
            ]
        },
    }
    created = core.create_namespaced_pod(namespace, pod)
    assert created.spec.containers[0].resources.requests == {"cpu": "1", "memory": "1Gi"}


def test_dry_run_stores_nothing(core: client.CoreV1Api, namespace: str) -> None:
    body = {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    answered = core.create_namespaced_config_map(namespace, body, dry_run="All")
    assert answered.metadata.uid and not answered.metadata.resource_version
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("cm", namespace)
    assert caught.value.status == 404
    created = core.create_namespaced_config_map(namespace, body)
    patched = core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"}
    assert core.read_namespaced_config_map("cm", namespace).data == {"a": "1"}
    core.delete_namespaced_config_map("cm", namespace, dry_run="All")
    kept = core.read_namespaced_config_map("cm", namespace)
    assert kept.metadata.resource_version == created.metadata.resource_version


def test_status_subresource_is_separate(
    apps: client.AppsV1Api, namespace: str, sandbox: Sandbox
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    main = request(
        sandbox,
        "PATCH",
        path,
        {"status": {"replicas": 42}, "spec": {"paused": True}},
        "application/merge-patch+json",
    ).json()
    assert main["spec"]["paused"] is True and main.get("status", {}).get("replicas") != 42
    status = request(
        sandbox,
        "PATCH",
        path + "/status",
        {"status": {"collisionCount": 7}, "spec": {"paused": False}},
        "application/merge-patch+json",
    ).json()
    assert status["status"]["collisionCount"] == 7 and status["spec"]["paused"] is True
    assert status["metadata"]["generation"] == main["metadata"]["generation"]


def test_scale_subresource(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4


def test_job_template_is_immutable(batch: client.BatchV1Api, namespace: str) -> None:
    created = batch.create_namespaced_job(namespace, job("train"))
    labels = created.spec.template.metadata.labels
    assert labels["batch.kubernetes.io/job-name"] == "train"
    assert created.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": created.metadata.uid
    }
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "python:3.13"}]}}}
    }
    with pytest.raises(ApiException) as caught:
        batch.patch_namespaced_job("train", namespace, patch)
    status = status_of(caught.value)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith(
        'Job.batch "train" is invalid: spec.template: Invalid value: '
    )
    assert status["message"].endswith("field is immutable")
    cause = status["details"]["causes"][0]
    assert cause["field"] == "spec.template" and cause["reason"] == "FieldValueInvalid"


def test_service_cluster_ip_is_allocated_and_immutable(
    core: client.CoreV1Api, namespace: str
) -> None:
    body = {
        "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
    }
    created = core.create_namespaced_service(namespace, body)
    assert created.spec.cluster_ip.startswith("10.") and created.spec.ports[0].target_port == 80
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service("svc", namespace, {"spec": {"clusterIP": "10.0.0.99"}})
    assert caught.value.status == 422
    assert status_of(caught.value)["details"]["causes"][0]["field"] == "spec.clusterIP"


def test_strict_validation_rejects_unknown_fields(sandbox: Sandbox, namespace: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {},
        "spec": {"foo": 1},
    }
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    strict = request(sandbox, "POST", path + "?fieldValidation=Strict", body)
    assert strict.status == 400 and strict.json()["reason"] == "BadRequest"
    assert strict.json()["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: unknown field "spec"'
    )
    warned = request(sandbox, "POST", path + "?fieldValidation=Warn", body)
    assert warned.status == 201 and warned.warnings == ['299 - "unknown field \\"spec\\""']
    assert "spec" not in warned.json()
    body["metadata"]["name"] = "cm2"
    ignored = request(sandbox, "POST", path + "?fieldValidation=Ignore", body)
    assert ignored.status == 201 and not ignored.warnings
    default = request(sandbox, "POST", path, {**body, "metadata": {"name": "cm3"}})
    assert default.status == 201 and default.warnings  # Warn when the parameter is absent


def test_invalid_object_is_422(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Not_Valid"}})
    status = status_of(caught.value)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_patch_types(core: client.CoreV1Api, namespace: str, sandbox: Sandbox) -> None:
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}}
    )
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm"
    ops = [{"op": "replace", "path": "/data/a", "value": "9"}, {"op": "remove", "path": "/data/b"}]
    assert request(sandbox, "PATCH", path, ops, "application/json-patch+json").json()["data"] == {
        "a": "9"
    }
    merged = request(
        sandbox, "PATCH", path, {"data": {"c": "3"}}, "application/merge-patch+json"
    ).json()
    assert merged["data"] == {"a": "9", "c": "3"}
    strategic = request(
        sandbox, "PATCH", path, {"data": {"a": None}}, "application/strategic-merge-patch+json"
    )
    assert strategic.json()["data"] == {"c": "3"}
    unknown = request(sandbox, "PATCH", path, {"data": {}}, "text/plain")
    assert unknown.status == 415 and unknown.json()["reason"] == "UnsupportedMediaType"


def test_cluster_scoped_rbac_and_namespaced_kinds(
    api_client: client.ApiClient, namespace: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    role = {
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    rbac.create_namespaced_role(namespace, role)
    rbac.create_cluster_role({**role, "metadata": {"name": f"{namespace}-reader"}})
    assert rbac.read_cluster_role(f"{namespace}-reader").rules[0].verbs == ["get"]
    rbac.delete_cluster_role(f"{namespace}-reader")
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "sa"}})
    secret = core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert secret.type == "Opaque"
    lease = client.CoordinationV1Api(api_client).create_namespaced_lease(
        namespace, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}
    )
    assert lease.spec.holder_identity == "me"
    hpa = {
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 3,
        },
    }
    created = client.AutoscalingV2Api(api_client).create_namespaced_horizontal_pod_autoscaler(
        namespace, hpa
    )
    assert created.spec.min_replicas == 1
