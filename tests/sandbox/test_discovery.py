"""Discovery and OpenAPI documents, as the DynamicClient and kubectl read them."""

from __future__ import annotations

from kubernetes import client

from reconciler_sandbox.core import Sandbox
from tests.sandbox.rawhttp import request


def test_version_and_core_group(sandbox: Sandbox) -> None:
    version = request(sandbox, "GET", "/version").json()
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    api = request(sandbox, "GET", "/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    core = request(sandbox, "GET", "/api/v1").json()
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["namespaced"] and pods["kind"] == "Pod" and "watch" in pods["verbs"]
    assert pods["shortNames"] == ["po"] and pods["singularName"] == "pod"
    assert any(r["name"] == "pods/status" for r in core["resources"])
    namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert namespaces["namespaced"] is False


def test_groups_have_preferred_version_among_versions(sandbox: Sandbox) -> None:
    groups = request(sandbox, "GET", "/apis").json()
    assert groups["kind"] == "APIGroupList"
    names = {g["name"] for g in groups["groups"]}
    assert {
        "apps",
        "batch",
        "autoscaling",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "rbac.authorization.k8s.io",
    } <= names
    for group in groups["groups"]:
        assert group["preferredVersion"] in group["versions"]


def test_apps_resources_with_subresources(sandbox: Sandbox) -> None:
    apps = request(sandbox, "GET", "/apis/apps/v1").json()
    by_name = {r["name"]: r for r in apps["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments/status"]["verbs"] == ["get", "patch", "update"]
    scale = by_name["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    jobs = request(sandbox, "GET", "/apis/batch/v1").json()
    assert "jobs/status" in {r["name"] for r in jobs["resources"]}


def test_unknown_group_is_a_404_status(sandbox: Sandbox) -> None:
    response = request(sandbox, "GET", "/apis/nothing.example.com/v1")
    assert response.status == 404
    body = response.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "NotFound",
        404,
    )


def test_aggregated_discovery_request_gets_plain_documents(sandbox: Sandbox) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    response = request(sandbox, "GET", "/apis", headers={"Accept": accept})
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["kind"] == "APIGroupList"


def test_dynamic_client_finds_kinds(sandbox: Sandbox, namespace: str) -> None:
    dynamic = sandbox.dynamic_client()
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and "scale" in deployments.subresources
    config_maps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    config_maps.create(body={"metadata": {"name": "c"}, "data": {"k": "v"}}, namespace=namespace)
    assert config_maps.get(name="c", namespace=namespace).data.k == "v"


def test_version_api_through_client(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1"


def test_openapi_index_and_patch_parameters(sandbox: Sandbox) -> None:
    index = request(sandbox, "GET", "/openapi/v3").json()
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    document = request(sandbox, "GET", url).json()
    path = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    params = {p["name"] for p in path["patch"]["parameters"]}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= params
    assert path["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "io.k8s.api.apps.v1.Deployment" in document["components"]["schemas"]
    assert request(sandbox, "GET", "/openapi/v3/apis/nothing/v1").status == 404


def test_every_request_needs_the_token(sandbox: Sandbox) -> None:
    for path in ("/version", "/api/v1/namespaces", "/sandbox/counters"):
        missing = request(sandbox, "GET", path, token=None)
        assert missing.status == 401 and missing.json()["reason"] == "Unauthorized"
        assert request(sandbox, "GET", path, token="wrong").status == 401
