"""Server-side apply: create-on-apply, managers, conflicts, force, dry run, validation."""

from __future__ import annotations

import json

from reconciler_sandbox.core import Sandbox
from tests.sandbox.conftest import deployment
from tests.sandbox.rawhttp import raw_watch, request

APPLY = "application/apply-patch+yaml"


def apply(sandbox: Sandbox, namespace: str, body: dict, manager: str = "reconciler", **params: str):
    query = "&".join([f"fieldManager={manager}", *(f"{k}={v}" for k, v in params.items())])
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{body['metadata']['name']}?{query}"
    return request(sandbox, "PATCH", path, body, APPLY)


def test_apply_creates_then_updates(sandbox: Sandbox, namespace: str) -> None:
    created = apply(sandbox, namespace, deployment("web"))
    assert created.status == 201
    obj = created.json()
    managers = [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]]
    assert managers == [("reconciler", "Apply")]
    updated = apply(sandbox, namespace, deployment("web", replicas=3))
    assert updated.status == 200 and updated.json()["spec"]["replicas"] == 3
    assert updated.json()["metadata"]["generation"] == 2


def test_reapplying_the_same_manifest_is_a_noop(sandbox: Sandbox, namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"a": "1"},
    }
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm?fieldManager=reconciler"
    first = request(sandbox, "PATCH", path, manifest, APPLY).json()
    listed = request(sandbox, "GET", f"/api/v1/namespaces/{namespace}/configmaps").json()
    again = request(sandbox, "PATCH", path, manifest, APPLY).json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]
    rv = listed["metadata"]["resourceVersion"]
    events = raw_watch(
        sandbox,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1",
    )
    assert events == []


def test_apply_needs_a_field_manager(sandbox: Sandbox, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    response = request(sandbox, "PATCH", path, deployment("web"), APPLY)
    assert response.status == 422 and response.json()["reason"] == "Invalid"
    assert response.json()["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )


def test_conflict_between_managers_and_force(sandbox: Sandbox, namespace: str) -> None:
    apply(sandbox, namespace, deployment("web", replicas=2), manager="first")
    clash = apply(sandbox, namespace, deployment("web", replicas=5), manager="second")
    assert clash.status == 409
    status = clash.json()
    assert status["reason"] == "Conflict"
    assert status["message"].startswith('Apply failed with 1 conflict: conflict with "first"')
    cause = status["details"]["causes"][0]
    assert cause == {
        "reason": "FieldManagerConflict",
        "message": 'conflict with "first"',
        "field": ".spec.replicas",
    }
    forced = apply(
        sandbox, namespace, deployment("web", replicas=5), manager="second", force="true"
    )
    assert forced.status == 200 and forced.json()["spec"]["replicas"] == 5


def test_apply_dry_run_changes_nothing(sandbox: Sandbox, namespace: str) -> None:
    apply(sandbox, namespace, deployment("web"))
    dry = apply(sandbox, namespace, deployment("web", replicas=7), dryRun="All")
    assert dry.json()["spec"]["replicas"] == 7
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    assert request(sandbox, "GET", path).json()["spec"]["replicas"] == 1
    absent = apply(sandbox, namespace, deployment("other"), dryRun="All")
    assert absent.status == 201
    assert request(sandbox, "GET", path.replace("/web", "/other")).status == 404


def test_apply_strict_and_warn_validation(sandbox: Sandbox, namespace: str) -> None:
    body = deployment("web")
    body["spec"]["foo"] = "bar"
    strict = apply(sandbox, namespace, body, fieldValidation="Strict")
    assert strict.status == 400
    assert strict.json()["message"].endswith('strict decoding error: unknown field "spec.foo"')
    warned = apply(sandbox, namespace, body, fieldValidation="Warn")
    assert warned.status == 201
    assert warned.warnings == ['299 - "unknown field \\"spec.foo\\""']
    assert "foo" not in warned.json()["spec"]


def test_apply_into_missing_namespace(sandbox: Sandbox) -> None:
    response = apply(sandbox, "no-such-namespace", deployment("web"))
    assert response.status == 404
    assert response.json()["message"] == 'namespaces "no-such-namespace" not found'


def test_apply_yaml_body(sandbox: Sandbox, namespace: str) -> None:
    manifest = json.dumps(deployment("web")).encode()  # JSON is YAML; kubectl sends JSON
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web?fieldManager=yaml"
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: '1'\n"
    cm_path = f"/api/v1/namespaces/{namespace}/configmaps/cm?fieldManager=yaml"
    assert request(sandbox, "PATCH", path, manifest, APPLY).status == 201
    assert request(sandbox, "PATCH", cm_path, yaml_body, APPLY).json()["data"] == {"a": "1"}
