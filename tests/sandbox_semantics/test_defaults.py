"""Defaulting: what a real kube-apiserver (1.30+) returns for objects the renderer sends."""

from __future__ import annotations

import copy

import pytest

from reconciler_sandbox.defaults import (
    allocate_cluster_ip,
    assign_cluster_ip,
    default_job_identity,
    default_object,
    generation_changed,
    has_generation,
)

from .conftest import DEPLOYMENT

EXPECTED_DEPLOYMENT_SPEC = {
    "replicas": 2,
    "selector": {"matchLabels": {"mlops/spec-name": "web"}},
    "strategy": {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    },
    "revisionHistoryLimit": 10,
    "progressDeadlineSeconds": 600,
    "template": {
        "metadata": {"labels": {"mlops/spec-name": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "registry.example:5000/models/server:1.4",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "env": [
                        {"name": "MODEL_URI", "value": "s3://models/web"},
                        {
                            "name": "POD_NAME",
                            "valueFrom": {
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                            },
                        },
                    ],
                    "resources": {
                        "requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
                        "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                        "timeoutSeconds": 1,
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    },
}

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "train-1a2b3c4d", "namespace": "ml"},
    "spec": {
        "template": {
            "metadata": {"labels": {"mlops/spec-name": "train"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "train", "image": "trainer", "command": ["python"]}],
            },
        }
    },
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "ml"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
}


def test_deployment_defaults_match_the_api_server():
    result = default_object(DEPLOYMENT)
    assert result["spec"] == EXPECTED_DEPLOYMENT_SPEC
    assert result["metadata"] == DEPLOYMENT["metadata"]


def test_defaulting_returns_a_new_object():
    original = copy.deepcopy(DEPLOYMENT)
    default_object(DEPLOYMENT)
    assert original == DEPLOYMENT


def test_job_defaults_and_identity():
    job = default_job_identity(default_object(JOB), "uid-1")
    spec = job["spec"]
    assert {k: spec[k] for k in spec if k != "template"} == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
        "manualSelector": False,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}},
    }
    assert spec["template"]["metadata"]["labels"] == {
        "mlops/spec-name": "train",
        "batch.kubernetes.io/controller-uid": "uid-1",
        "batch.kubernetes.io/job-name": "train-1a2b3c4d",
        "controller-uid": "uid-1",
        "job-name": "train-1a2b3c4d",
    }
    # The Job takes its template's labels, uid ones included, when it has none of its own.
    assert job["metadata"]["labels"] == spec["template"]["metadata"]["labels"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {}
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_service_defaults_and_cluster_ip():
    service = assign_cluster_ip(default_object(SERVICE), {"10.96.0.10"})
    assert service["spec"] == {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
        "clusterIP": "10.96.0.11",
        "clusterIPs": ["10.96.0.11"],
    }
    headless = copy.deepcopy(SERVICE)
    headless["spec"]["clusterIP"] = "None"
    assert assign_cluster_ip(default_object(headless), set())["spec"]["clusterIPs"] == ["None"]
    assert allocate_cluster_ip(set()) == "10.96.0.10"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry:5000/nginx", "Always"),
        ("registry:5000/nginx:1.0", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image, policy):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {"containers": [{"name": "c", "image": image}]},
    }
    assert default_object(pod)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_requests_default_to_limits():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "containers": [{"name": "c", "image": "i:1", "resources": {"limits": {"cpu": "500m"}}}]
        },
    }
    result = default_object(pod)["spec"]
    assert result["containers"][0]["resources"] == {
        "limits": {"cpu": "500m"},
        "requests": {"cpu": "500m"},
    }
    assert result["enableServiceLinks"] is True


@pytest.mark.parametrize(
    "obj",
    [
        DEPLOYMENT,
        JOB,
        SERVICE,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}},
    ],
)
def test_defaulting_is_idempotent(obj):
    once = default_object(obj)
    assert default_object(once) == once


def test_unknown_kinds_and_malformed_objects_come_back_unchanged():
    custom = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"x": 1}}
    assert default_object(custom) == custom
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": "nonsense"}
    assert default_object(broken) == broken


def _with(obj, path, value):
    result = copy.deepcopy(obj)
    node = result
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return result


@pytest.mark.parametrize(
    ("old", "new", "bumps"),
    [
        (DEPLOYMENT, _with(DEPLOYMENT, ("spec", "replicas"), 3), True),
        (DEPLOYMENT, _with(DEPLOYMENT, ("metadata", "annotations", "a"), "b"), True),
        (DEPLOYMENT, _with(DEPLOYMENT, ("metadata", "labels", "a"), "b"), False),
        (DEPLOYMENT, _with(DEPLOYMENT, ("status", "replicas"), 2), False),
        (JOB, _with(JOB, ("metadata", "annotations"), {"a": "b"}), False),
        (JOB, _with(JOB, ("spec", "suspend"), True), True),
        (SERVICE, _with(SERVICE, ("spec", "type"), "NodePort"), False),
        (
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"a": 1}},
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"a": 2}},
            True,
        ),
        (
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"a": 1}},
            {
                "apiVersion": "kubeflow.org/v1",
                "kind": "PyTorchJob",
                "spec": {"a": 1},
                "status": {"x": 1},
            },
            False,
        ),
    ],
)
def test_generation_rules(old, new, bumps):
    assert generation_changed(old, new) is bumps


def test_which_kinds_have_a_generation():
    assert has_generation("apps/v1", "Deployment")
    assert has_generation("serving.kserve.io/v1beta1", "InferenceService")
    assert not has_generation("v1", "ConfigMap")
    assert not has_generation("v1", "Namespace")
