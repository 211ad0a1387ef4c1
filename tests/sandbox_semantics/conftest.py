"""Fixtures for the sandbox's semantic modules: rendered-like objects and the upstream CRDs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler_sandbox.validation import Validator

# The upstream CRDs live beside the project (see their README); absent in a plain clone.
CRD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
CRD_FILES = {
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
    "PyTorchJob": "kubeflow.org_pytorchjobs.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "SeldonDeployment": "machinelearning.seldon.io_seldondeployments.yaml",
}

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "ml",
        "labels": {"app.kubernetes.io/managed-by": "reconciler", "mlops/spec-name": "web"},
        "annotations": {"mlops/spec-hash": "0123456789abcdef"},
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"mlops/spec-name": "web"}},
        "template": {
            "metadata": {"labels": {"mlops/spec-name": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "registry.example:5000/models/server:1.4",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "env": [
                            {"name": "MODEL_URI", "value": "s3://models/web"},
                            {
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                        ],
                        "resources": {
                            "requests": {"cpu": "1000m", "memory": "1024Mi", "nvidia.com/gpu": 1},
                            "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1},
                        },
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    }
                ]
            },
        },
    },
}


@pytest.fixture
def deployment() -> dict[str, Any]:
    return copy.deepcopy(DEPLOYMENT)


@pytest.fixture(scope="session")
def crds() -> dict[str, dict[str, Any]]:
    if not CRD_DIR.is_dir():
        pytest.skip(f"upstream CRDs not found at {CRD_DIR} (outside the development setup)")
    return {
        kind: yaml.load(CRD_DIR.joinpath(name).read_text(), Loader=yaml.CSafeLoader)
        for kind, name in CRD_FILES.items()
    }


@pytest.fixture(scope="session")
def validator(crds: dict[str, dict[str, Any]]) -> Validator:
    """One validator with every upstream CRD registered (compiling them is the slow part)."""
    result = Validator()
    for crd in crds.values():
        result.register_crd(crd)
    return result


@pytest.fixture(scope="session")
def builtin_validator() -> Validator:
    return Validator()
