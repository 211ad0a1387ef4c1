"""One sandbox for the whole test run, a fresh namespace per test, clients built for it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import sandbox_fixture

CRDS_DIR = Path(__file__).resolve().parents[3] / "shared" / "crds"

sandbox = sandbox_fixture(scope="session", deployment_delay=0.05, bookmark_interval=0.2)

_counter = itertools.count()


@pytest.fixture(scope="session")
def api_client(sandbox: Sandbox) -> client.ApiClient:
    return sandbox.api_client()


@pytest.fixture
def namespace(sandbox: Sandbox, api_client: client.ApiClient) -> Iterator[str]:
    name = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture
def crds_dir() -> Path:
    if not CRDS_DIR.is_dir():
        pytest.skip(f"upstream CRDs not found at {CRDS_DIR} (they ship beside the project)")
    return CRDS_DIR


def available(apps: client.AppsV1Api, namespace: str, name: str) -> int:
    status = apps.read_namespaced_deployment(name, namespace).status
    return (status.available_replicas if status else 0) or 0


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def job(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "python:3.12", "command": ["true"]}],
                }
            },
            **spec,
        },
    }
