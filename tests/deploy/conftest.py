"""The manifests of deploy/, rendered once by kustomize, and a sandbox to apply them to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT / "deploy"
NAMESPACE = "reconciler-system"
SERVICE_ACCOUNT = "reconciler"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not on PATH")
    return found


@pytest.fixture(scope="package")
def rendered() -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="package")
def documents(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="package")
def sandbox():
    testing = pytest.importorskip(
        "reconciler_sandbox.testing",
        reason="reconciler_sandbox.testing (the API sandbox) is not available",
    )
    with testing.running_sandbox(crds_dir=crds_dir(), deployment_delay=0.05) as running:
        yield running


def crds_dir() -> Path | None:
    """The upstream CRDs of the managed custom kinds, beside the project when present."""
    from reconciler.commands.demo import DEFAULT_CRDS

    return DEFAULT_CRDS if DEFAULT_CRDS.is_dir() else None


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc.get("kind") == kind]
