"""A sandbox with the upstream CRDs, a fresh namespace per test, and rendered objects."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from reconciler.render import RenderContext, render, static_resolver
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import SPEC_ADAPTER
from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import running_sandbox

CRDS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
COMMIT = "c0ffee" + "0" * 34
# (group, version, plural) of each custom resource the renderer emits.
RESOURCES = {
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "SeldonDeployment": ("machinelearning.seldon.io", "v1", "seldondeployments"),
    "PyTorchJob": ("kubeflow.org", "v1", "pytorchjobs"),
    "RayJob": ("ray.io", "v1", "rayjobs"),
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs"),
}

_counter = itertools.count()
Obj = dict[str, Any]


@pytest.fixture(scope="package")
def sandbox() -> Iterator[Sandbox]:
    if not CRDS_DIR.is_dir():
        pytest.skip(f"upstream CRDs not found at {CRDS_DIR} (they ship beside the project)")
    with running_sandbox(crds_dir=CRDS_DIR, deployment_delay=0.05) as running:
        yield running


@pytest.fixture(scope="package")
def api_client(sandbox: Sandbox) -> client.ApiClient:
    return sandbox.api_client()


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    name = f"c{next(_counter)}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def rules(sandbox: Sandbox) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Set scenario rules for one test; they are cleared afterwards."""
    yield sandbox.set_rules
    sandbox.set_rules({})


def rendered(doc: Obj, namespace: str) -> Obj:
    """The one object the renderer makes of a spec document, in ``namespace``."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    loaded = LoadedSpec(SPEC_ADAPTER.validate_python(doc), "specs/spec.yaml", 1, "0" * 40)
    (manifest,) = render(loaded, RenderContext(COMMIT, static_resolver([loaded])))
    return manifest


def model_deployment(name: str, **spec: Any) -> Obj:
    body = {"model": {"uri": "s3://models/iris/1/"}, "format": "sklearn", **spec}
    return {
        "apiVersion": "mlops/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": body,
    }


def training_job(name: str, **spec: Any) -> Obj:
    body = {
        "image": "ghcr.io/acme/train:1.0.0",
        "command": ["python", "train.py"],
        "output": {"uri": "s3://models/{run}/"},
        **spec,
    }
    return {
        "apiVersion": "mlops/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": body,
    }


class Objects:
    """Create, read and watch one kind of custom resource through the official client."""

    def __init__(self, custom: client.CustomObjectsApi, namespace: str, kind: str) -> None:
        self.custom, self.namespace = custom, namespace
        self.group, self.version, self.plural = RESOURCES[kind]

    def create(self, body: Obj) -> Obj:
        return self.custom.create_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, body
        )

    def replace(self, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        live = self.get(name)
        body = {
            **body,
            "metadata": {
                **body["metadata"],
                "resourceVersion": live["metadata"]["resourceVersion"],
            },
        }
        return self.custom.replace_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, name, body
        )

    def get(self, name: str) -> Obj:
        return self.custom.get_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, name
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, name
        )

    def resource_version(self) -> str:
        listed = self.custom.list_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural
        )
        return str(listed["metadata"]["resourceVersion"])

    def history(
        self, name: str, since: str, until: Callable[[Obj], bool], timeout: int = 10
    ) -> list[Obj]:
        """Every version of ``name`` written after resourceVersion ``since``, up to the first
        one ``until`` accepts; fails at the deadline."""
        seen: list[Obj] = []
        stream = watch.Watch()
        for event in stream.stream(
            self.custom.list_namespaced_custom_object,
            self.group,
            self.version,
            self.namespace,
            self.plural,
            resource_version=since,
            field_selector=f"metadata.name={name}",
            timeout_seconds=timeout,
        ):
            seen.append(event["object"])
            if until(event["object"]):
                stream.stop()
                return seen
        raise AssertionError(f"{name} never reached the expected state; last: {seen[-1:]}")
