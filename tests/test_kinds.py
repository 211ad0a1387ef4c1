"""The registry of kinds (reconciler.kinds) knows every kind the renderer can emit, and every
table derived from it (apply order, health, list keys, NotInstalled messages, RBAC) agrees."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from reconciler import health, kinds
from reconciler.engine import MANAGED_KINDS
from reconciler.errors import NotServed
from reconciler.render import render
from reconciler.specs.models import Backend, ModelFormat, Runtime
from reconciler_sandbox.custom_workloads import custom_controllers
from reconciler_sandbox.jobs import JobController
from reconciler_sandbox.workloads import DeploymentController, HorizontalPodAutoscalerController
from tests.deploy.permissions import required
from tests.render.support import (
    context,
    load_examples,
    loaded,
    model_deployment,
    pipeline,
    training_job,
)

PROJECT = Path(__file__).resolve().parents[1]
AUTOSCALING = {"minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 70}
CANARY = {"model": {"uri": "s3://models/m/2/"}, "trafficPercent": 20}


def _serving_docs() -> list[dict[str, Any]]:
    docs = []
    for runtime, fmt, scaling in itertools.product(
        get_args(Runtime), get_args(ModelFormat), ({"replicas": 2}, {"autoscaling": AUTOSCALING})
    ):
        docs.append(
            model_deployment(
                runtime=runtime, format=fmt, image="ghcr.io/acme/srv:1", canary=CANARY, **scaling
            )
        )
    return docs


def _training_docs() -> list[dict[str, Any]]:
    return [
        training_job(backend=backend, workers=workers)
        for backend in get_args(Backend)
        for workers in ((1,) if backend == "job" else (1, 3))
    ]


def _emitted() -> set[tuple[str, str]]:
    """(apiVersion, kind) of everything the examples and every backend and runtime render."""
    specs = [*load_examples(), *(loaded(d) for d in [*_serving_docs(), *_training_docs()])]
    specs.append(loaded(pipeline()))
    ctx = context(*specs)
    return {(m["apiVersion"], m["kind"]) for spec in specs for m in render(spec, ctx)}


EMITTED = _emitted()


@pytest.mark.parametrize("api_version, kind", sorted(EMITTED))
def test_every_emitted_kind_is_a_managed_registry_entry(api_version: str, kind: str) -> None:
    group = api_version.rpartition("/")[0]
    info = kinds.lookup(group, kind)
    assert info is not None, f"{kind} ({api_version}) is rendered but not in reconciler/kinds.py"
    assert info.api_version == api_version
    assert info.managed and info.health is not None


def test_every_managed_kind_is_rendered_by_something() -> None:
    """The other direction: no registry entry managed (watched, granted) for nothing."""
    assert set(kinds.managed()) == EMITTED
    assert set(MANAGED_KINDS) == EMITTED


def test_health_rules_are_the_registrys() -> None:
    named = {(info.group, info.kind) for info in kinds.KINDS if info.health}
    assert set(health._RULES) == named
    for info in kinds.KINDS:
        if info.health:
            assert health._RULES[(info.group, info.kind)] is health._BY_NAME[info.health]


def test_kinds_agree_on_list_keys() -> None:
    """Diffs key lists by field name whatever the kind, so one field has one key."""
    seen: dict[str, tuple[str, str]] = {}
    for info in kinds.KINDS:
        for field, key in info.list_keys.items():
            if field in seen:
                assert seen[field][0] == key, f"{field}: {info.kind} and {seen[field][1]} disagree"
            seen[field] = (key, info.kind)
    assert kinds.list_keys()["workerGroupSpecs"] == "groupName"
    assert kinds.list_keys()["runtimePatches"] == "manager"


def test_training_applies_before_serving_and_namespaces_first() -> None:
    rank = kinds.rank
    assert rank("", "Namespace") < rank("batch", "Job")
    for group, kind in (("kubeflow.org", "PyTorchJob"), ("trainer.kubeflow.org", "TrainJob")):
        assert rank("batch", "Job") < rank(group, kind) < rank("apps", "Deployment")
    # Services before every pod-making kind: a pod's environment names the Services it started with
    assert rank("", "Namespace") < rank("", "Service") < rank("batch", "Job")
    assert rank("example.com", "Widget") == kinds.UNKNOWN_RANK


def test_not_served_names_the_project_that_installs_the_kind() -> None:
    message = str(NotServed("trainer.kubeflow.org/v1alpha1", "TrainJob"))
    assert message.startswith("kubeflow trainer is not installed: TrainJob")
    for info in kinds.KINDS:
        if info.managed and info.group not in ("", "apps", "batch", "autoscaling"):
            assert info.installed_by, f"{info.kind} is a custom resource: who installs it?"


def test_the_sandbox_simulates_every_managed_kind() -> None:
    controllers = [
        *custom_controllers(),
        DeploymentController(),
        HorizontalPodAutoscalerController(),
        JobController(),
    ]
    simulated = {resource for c in controllers for resource in c.resources}
    for info in kinds.KINDS:
        if info.managed and info.kind != "Service":  # a Service has no controller to simulate
            assert (info.group, info.plural) in simulated, f"no sandbox controller for {info.kind}"


# ---------------------------------------------------------------- RBAC


def _cluster_role_rules() -> dict[tuple[str, str], set[str]]:
    documents = yaml.safe_load_all((PROJECT / "deploy" / "rbac.yaml").read_text())
    (role,) = [d for d in documents if d and d["kind"] == "ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule.get("apiGroups", ()):
            for resource in rule.get("resources", ()):
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_rbac_grants_exactly_the_registrys_verbs() -> None:
    expected = {(info.group, info.plural): set(info.verbs) for info in kinds.KINDS if info.verbs}
    assert _cluster_role_rules() == expected


def test_each_namespaced_role_grants_exactly_the_registrys_namespaced_verbs() -> None:
    """deploy/namespaced writes one Role per allowed namespace by hand: each must say what the
    registry says of the namespaced kinds (Namespaces are cluster-scoped: not theirs to grant)."""
    documents = yaml.safe_load_all((PROJECT / "deploy/namespaced/roles.yaml").read_text())
    roles = [d for d in documents if d and d["kind"] == "Role"]
    expected = {
        (info.group, info.plural): set(info.verbs)
        for info in kinds.KINDS
        if info.verbs and info.namespaced
    }
    assert roles
    for role in roles:
        granted: dict[tuple[str, str], set[str]] = {}
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
        assert granted == expected, role["metadata"]["namespace"]


def test_permissions_derive_the_registrys_verbs() -> None:
    """tests/deploy/permissions.py states what the code does; the registry must say the same."""
    needed = required(kinds.managed())
    for info in kinds.KINDS:
        if info.verbs:
            found = {p.verb for p in needed if (p.group, p.resource) == (info.group, info.plural)}
            assert found == set(info.verbs), info.kind
