"""The operator's side of deploy/: limits in the ConfigMap, a namespaced install with no
cluster-wide write, and impersonation of one ServiceAccount per repository.

deploy/namespaced and deploy/impersonation are kustomize components (an overlay cannot live inside
its base's directory): each test renders them through a small overlay written to tmp_path, the
way docs/security.md tells operators to use them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler.config import OPTIONS, load_settings
from reconciler.engine import MANAGED_KINDS
from tests.deploy.conftest import DEPLOY, NAMESPACE, SERVICE_ACCOUNT, by_kind, kubectl
from tests.deploy.permissions import Grants, Permission, required

KUBERNETES_VERSION = "1.33.0"
ALLOWED = ("ml-team", "ml-staging")
TENANT = ("ml-team", "reconciler-apply")
LEASE = (NAMESPACE, "reconciler-leader")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "impersonate", "*"}


def render(tmp_path: Path, *components: str) -> list[dict[str, Any]]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/{name}" for name in components],
            }
        )
    )
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def settings_of(documents: list[dict[str, Any]]):
    (config,) = by_kind(documents, "ConfigMap")
    return load_settings({option.name: None for option in OPTIONS}, config["data"])


def namespaced_needs(namespace: str) -> list[Permission]:
    """What the code needs on the managed kinds and Pods, inside one namespace."""
    return [
        Permission(p.verb, p.group, p.resource, namespace)
        for p in required(MANAGED_KINDS)
        if p.resource and p.resource != "namespaces"
    ]


@pytest.fixture
def namespaced(tmp_path: Path) -> list[dict[str, Any]]:
    return render(tmp_path, "namespaced")


@pytest.fixture
def impersonating(tmp_path: Path) -> list[dict[str, Any]]:
    return render(tmp_path, "namespaced", "impersonation")


def test_the_shipped_config_map_sets_the_operators_limits_and_pins_the_status_branch():
    config = yaml.safe_load((DEPLOY / "configmap.yaml").read_text())
    settings = settings_of([config])

    limits = settings.tenancy.limits()
    assert limits.allowed_namespaces == list(ALLOWED)
    assert limits.allowed_backends and limits.allowed_runtimes
    assert limits.max_gpus_per_spec is not None and limits.max_gpus_per_repository is not None
    assert settings.source.status_branch == "status"
    assert settings.tenancy.namespaced is False


def test_the_namespaced_install_renders_and_validates(namespaced):
    for document in namespaced:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    roles = {doc["metadata"]["namespace"] for doc in by_kind(namespaced, "Role")}
    assert set(ALLOWED) <= roles


def test_no_cluster_role_may_write(namespaced):
    cluster_roles = by_kind(namespaced, "ClusterRole")
    assert [role["metadata"]["name"] for role in cluster_roles] == ["reconciler-namespaces"]
    for role in cluster_roles:
        for rule in role["rules"]:
            assert not set(rule["verbs"]) & WRITE_VERBS, rule


def test_the_reconciler_may_act_only_in_its_namespaces(namespaced):
    grants = Grants.for_service_account(namespaced, NAMESPACE, SERVICE_ACCOUNT)

    for namespace in ALLOWED:
        denied = [str(p) for p in namespaced_needs(namespace) if not grants.allows(p)]
        assert not denied, denied
        assert grants.allows(Permission("get", "", "namespaces", name=namespace))
    for elsewhere in ("default", "kube-system", None):
        assert not any(grants.allows(p) for p in namespaced_needs(elsewhere)), elsewhere
    assert not grants.allows(Permission("get", "", "namespaces", name="kube-system"))
    assert not grants.allows(Permission("create", "", "namespaces"))
    assert grants.allows(Permission("update", "coordination.k8s.io", "leases", *LEASE))


def test_the_namespaced_settings_match_the_roles(namespaced):
    settings = settings_of(namespaced)

    assert settings.tenancy.namespaced is True
    assert settings.tenancy.allowed_namespaces == list(ALLOWED)
    roles = {doc["metadata"]["namespace"] for doc in by_kind(namespaced, "Role")}
    assert roles - {NAMESPACE} == set(ALLOWED)


def test_impersonation_leaves_the_reconciler_only_impersonate(impersonating):
    for document in impersonating:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    own = Grants.for_service_account(impersonating, NAMESPACE, SERVICE_ACCOUNT)
    tenant = Grants.for_service_account(impersonating, *TENANT)

    assert own.allows(Permission("impersonate", "", "serviceaccounts", *TENANT))
    assert not own.allows(Permission("impersonate", "", "serviceaccounts", "ml-team", "other"))
    assert not own.allows(Permission("impersonate", "", "groups", name="system:masters"))
    for namespace in ALLOWED:
        assert not any(own.allows(p) for p in namespaced_needs(namespace))
        assert all(tenant.allows(p) for p in namespaced_needs(namespace))
    assert tenant.allows(Permission("update", "coordination.k8s.io", "leases", *LEASE))
    assert not any(tenant.allows(p) for p in namespaced_needs("kube-system"))
    assert settings_of(impersonating).cluster.service_account == "/".join(TENANT)
