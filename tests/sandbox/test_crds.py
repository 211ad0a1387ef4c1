"""Custom resources: CRD registration, schema validation and pruning, status, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import running_sandbox
from tests.sandbox.rawhttp import request

WIDGETS = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "free": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widgets(sandbox: Sandbox, api_client: client.ApiClient) -> Iterator[client.CustomObjectsApi]:
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(WIDGETS)
    yield client.CustomObjectsApi(api_client)
    extensions.delete_custom_resource_definition("widgets.example.com")


def widget(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_crd_is_established_and_discoverable(
    sandbox: Sandbox, widgets: client.CustomObjectsApi, api_client: client.ApiClient
) -> None:
    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(
        "widgets.example.com"
    )
    assert {c.type: c.status for c in crd.status.conditions} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert crd.status.accepted_names.kind == "Widget" and crd.status.stored_versions == ["v1"]
    resources = request(sandbox, "GET", "/apis/example.com/v1").json()["resources"]
    assert {r["name"] for r in resources} == {"widgets", "widgets/status"}
    index = request(sandbox, "GET", "/openapi/v3").json()
    assert "apis/example.com/v1" in index["paths"]


def test_custom_resource_crud_pruning_and_generation(
    widgets: client.CustomObjectsApi, namespace: str
) -> None:
    created = widgets.create_namespaced_custom_object(
        "example.com",
        "v1",
        namespace,
        "widgets",
        widget("w", size=2, extra=1, free={"any": {"thing": 1}}),
    )
    assert created["spec"] == {"size": 2, "free": {"any": {"thing": 1}}}  # unknown "extra" pruned
    assert created["metadata"]["generation"] == 1
    labelled = widgets.patch_namespaced_custom_object(
        "example.com", "v1", namespace, "widgets", "w", {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    resized = widgets.patch_namespaced_custom_object(
        "example.com", "v1", namespace, "widgets", "w", {"spec": {"size": 3}}
    )
    assert resized["metadata"]["generation"] == 2


def test_custom_resource_schema_violation(widgets: client.CustomObjectsApi, namespace: str) -> None:
    with pytest.raises(ApiException) as caught:
        widgets.create_namespaced_custom_object(
            "example.com", "v1", namespace, "widgets", widget("w", size=0)
        )
    assert caught.value.status == 422


def test_custom_resource_status_subresource(
    widgets: client.CustomObjectsApi, namespace: str
) -> None:
    widgets.create_namespaced_custom_object(
        "example.com", "v1", namespace, "widgets", {**widget("w", size=1), "status": {"phase": "x"}}
    )
    current = widgets.get_namespaced_custom_object("example.com", "v1", namespace, "widgets", "w")
    assert "status" not in current
    updated = widgets.patch_namespaced_custom_object_status(
        "example.com", "v1", namespace, "widgets", "w", {"status": {"phase": "Ready"}}
    )
    assert updated["status"] == {"phase": "Ready"} and updated["metadata"]["generation"] == 1


def test_strategic_merge_patch_is_415_on_custom_resources(
    sandbox: Sandbox, widgets: client.CustomObjectsApi, namespace: str
) -> None:
    widgets.create_namespaced_custom_object(
        "example.com", "v1", namespace, "widgets", widget("w", size=1)
    )
    response = request(
        sandbox,
        "PATCH",
        f"/apis/example.com/v1/namespaces/{namespace}/widgets/w",
        {"spec": {"size": 2}},
        "application/strategic-merge-patch+json",
    )
    assert response.status == 415 and response.json()["reason"] == "UnsupportedMediaType"


def test_deleting_crd_removes_resources_and_api(api_client: client.ApiClient) -> None:
    with running_sandbox() as sandbox:
        api = sandbox.api_client()
        extensions = client.ApiextensionsV1Api(api)
        extensions.create_custom_resource_definition(WIDGETS)
        objects = client.CustomObjectsApi(api)
        objects.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", widget("w", size=1)
        )
        extensions.delete_custom_resource_definition("widgets.example.com")
        assert request(sandbox, "GET", "/apis/example.com/v1").status == 404
        extensions.create_custom_resource_definition(WIDGETS)
        assert (
            objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")[
                "items"
            ]
            == []
        )


def test_upstream_crds_and_an_inference_service(crds_dir: Path) -> None:
    with running_sandbox(crds_dir=crds_dir) as sandbox:
        objects = client.CustomObjectsApi(sandbox.api_client())
        isvc = yaml.safe_load("""
            apiVersion: serving.kserve.io/v1beta1
            kind: InferenceService
            metadata: {name: sk}
            spec:
              predictor:
                model:
                  modelFormat: {name: sklearn}
                  storageUri: gs://bucket/model
        """)
        created = objects.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", "default", "inferenceservices", isvc
        )
        assert created["spec"]["predictor"]["model"]["storageUri"] == "gs://bucket/model"
        groups = {g["name"] for g in request(sandbox, "GET", "/apis").json()["groups"]}
        assert {
            "serving.kserve.io",
            "kubeflow.org",
            "ray.io",
            "machinelearning.seldon.io",
        } <= groups
