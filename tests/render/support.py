"""Builders and schema validators shared by the render tests."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from reconciler.render import RenderContext, static_resolver
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.loader import load_directory
from reconciler.specs.models import SPEC_ADAPTER

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = PROJECT_ROOT.parent / "shared" / "crds"
EXAMPLES = PROJECT_ROOT / "examples" / "repo"
# A recent Kubernetes whose schemas kubernetes-validate ships; strict rejects unknown fields.
KUBERNETES_VERSION = "1.33.0"
BUILT_IN_GROUPS = {"v1", "apps/v1", "batch/v1", "autoscaling/v2"}
COMMIT = "c0ffee" + "0" * 34


def loaded(doc: dict[str, Any], file: str = "specs/spec.yaml") -> LoadedSpec:
    doc = copy.deepcopy(doc)
    doc["metadata"].setdefault("namespace", "ml-team")
    return LoadedSpec(SPEC_ADAPTER.validate_python(doc), file, 1, "0" * 40)


def context(*specs: LoadedSpec) -> RenderContext:
    return RenderContext(COMMIT, static_resolver(specs))


def model_deployment(name: str = "server", **spec: Any) -> dict[str, Any]:
    body = {"model": {"uri": "s3://models/m/1/"}, **spec}
    return {
        "apiVersion": "mlops/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": body,
    }


def training_job(name: str = "train", **spec: Any) -> dict[str, Any]:
    body = {"image": "ghcr.io/acme/train:1.0.0", "command": ["python", "train.py"], **spec}
    return {
        "apiVersion": "mlops/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": body,
    }


def pipeline(name: str = "flow", steps: list[dict[str, Any]] | None = None, **spec: Any) -> dict:
    default_steps = [
        {"name": "prepare", "image": "ghcr.io/acme/p:1", "outputs": {"data": "s3://d/{run}/"}},
        {
            "name": "train",
            "image": "ghcr.io/acme/p:1",
            "dependsOn": ["prepare"],
            "outputs": {"model-file": "s3://m/{run}/model.bin"},
        },
        {"name": "evaluate", "image": "ghcr.io/acme/p:1", "dependsOn": ["train"]},
    ]
    return {
        "apiVersion": "mlops/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"steps": default_steps if steps is None else steps, **spec},
    }


def load_examples() -> list[LoadedSpec]:
    result = load_directory(EXAMPLES)
    assert not result.problems, [str(problem) for problem in result.problems]
    return list(result.specs)


# ---------------------------------------------------------------- validation


def validate(manifest: dict[str, Any]) -> None:
    """Fail unless the API server (built-in kinds) or the upstream CRD would accept it."""
    if manifest["apiVersion"] in BUILT_IN_GROUPS:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        return
    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    jsonschema.Draft7Validator(schema).validate(manifest)
    # CRD schemas say only "metadata: object"; the API server still checks ObjectMeta.
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}
    kubernetes_validate.validate(carrier, KUBERNETES_VERSION, strict=True)


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    schemas = _crd_schemas()
    if (api_version, kind) not in schemas:
        raise AssertionError(f"no CRD in {CRD_DIR.name} for {kind} {api_version}")
    return schemas[(api_version, kind)]


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    if not CRD_DIR.is_dir():
        pytest.skip("upstream CRDs not found at ../shared/crds (from the project root)")
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            crd = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = openapi_to_json_schema(version["schema"]["openAPIV3Schema"])
            schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf")


def openapi_to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural OpenAPI v3 schema as JSON Schema with the API server's semantics.

    Unknown fields are an error unless the schema preserves them (the API server prunes them
    silently, which for us would mean an intended setting never takes effect).
    """
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS:
            result[key] = {name: openapi_to_json_schema(item) for name, item in value.items()}
        elif key in _SCHEMA_LISTS:
            result[key] = [openapi_to_json_schema(item) for item in value]
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            result[key] = openapi_to_json_schema(value)
        elif key == "nullable" or key.startswith("x-kubernetes-"):
            continue
        else:
            result[key] = value
    if node.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not preserve:
        result["additionalProperties"] = False
    return result
