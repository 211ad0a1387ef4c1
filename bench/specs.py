"""A spec repository of N specs with a realistic mix, one file per spec in folders.

The mix, per 10 specs: 4 serving Deployments (``deployment`` runtime: a Deployment and a Service,
every third one autoscaled, so also an HPA), 2 KServe InferenceServices (or, without the KServe
CRD, 2 more serving Deployments), 2 training Jobs and 2 three-step pipelines. Specs are spread
over 10 namespaces and laid out as ``<team>/<kind folder>/<name>.yaml``.

Serving specs name their model by URI rather than ``fromTraining``, so the manifests a cold
reconcile applies are exactly what the renderer makes from the files, with no wait on runs: the
kubectl baseline can then apply the same objects.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

NAMESPACES = tuple(f"team-{index:02d}" for index in range(10))
# Position in each block of 10 -> what the spec is.
_MIX = (
    "serving",
    "kserve",
    "training",
    "serving",
    "pipeline",
    "serving",
    "kserve",
    "training",
    "serving",
    "pipeline",
)
_FOLDERS = {
    "serving": "models",
    "kserve": "models",
    "training": "training",
    "pipeline": "pipelines",
}
_GIT_CONFIG = (
    "-c", "user.name=bench",
    "-c", "user.email=bench@example.invalid",
    "-c", "init.defaultBranch=main",
    "-c", "commit.gpgsign=false",
    "-c", "gc.auto=0",
)  # fmt: skip


@dataclass(frozen=True)
class SpecFile:
    path: str  # relative to the repository root
    kind: str  # ModelDeployment | TrainingJob | Pipeline
    namespace: str
    name: str
    flavour: str  # serving | kserve | training | pipeline


def plan_specs(count: int, kserve: bool) -> list[SpecFile]:
    """Which specs a repository of ``count`` specs holds, in a stable order."""
    specs = []
    for index in range(count):
        flavour = _MIX[index % len(_MIX)]
        if flavour == "kserve" and not kserve:
            flavour = "serving"
        namespace = NAMESPACES[index % len(NAMESPACES)]
        name = f"{flavour}-{index:05d}"
        kind = {"training": "TrainingJob", "pipeline": "Pipeline"}.get(flavour, "ModelDeployment")
        path = f"{namespace}/{_FOLDERS[flavour]}/{name}.yaml"
        specs.append(SpecFile(path, kind, namespace, name, flavour))
    return specs


def spec_text(spec: SpecFile, revision: int = 1) -> str:
    """The file of ``spec``; a higher ``revision`` changes what it deploys (and its objects)."""
    index = int(spec.name.rsplit("-", 1)[1])
    body = _BODIES[spec.flavour](index, revision)
    document = {
        "apiVersion": "mlops/v1alpha1",
        "kind": spec.kind,
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {"team": spec.namespace, "tier": ("gold", "silver", "bronze")[index % 3]},
        },
        "spec": body,
    }
    header = f"# {spec.flavour} spec {index} of the benchmark repository\n"
    return header + yaml.safe_dump(document, sort_keys=False)


def _serving(index: int, revision: int) -> dict[str, object]:
    body: dict[str, object] = {
        "model": {"uri": f"s3://models/serving-{index:05d}/v{revision}/model.joblib"},
        "runtime": "deployment",
        "format": "sklearn",
        "image": "ghcr.io/acme-ml/sklearn-server:2.1.0",
        "port": 8080,
        "resources": {"cpu": "500m", "memory": "1Gi"},
        "env": {
            "LOG_LEVEL": "info",
            "MODEL_REVISION": str(revision),
            "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "ml-s3", "key": "access-key-id"}},
        },
    }
    if index % 3 == 0:
        body["autoscaling"] = {
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 70,
        }
    else:
        body["replicas"] = 1 + index % 3
    return body


def _kserve(index: int, revision: int) -> dict[str, object]:
    return {
        "model": {"uri": f"s3://models/kserve-{index:05d}/v{revision}/"},
        "runtime": "kserve",
        "format": "xgboost",
        "replicas": 1 + index % 2,
        "resources": {"cpu": "1", "memory": "2Gi"},
        "env": {"LOG_LEVEL": "info"},
    }


def _training(index: int, revision: int) -> dict[str, object]:
    return {
        "image": "ghcr.io/acme-ml/trainer:1.4.2",
        "command": ["python", "-m", "trainer"],
        "args": ["--data", f"s3://data/training-{index:05d}/2024-06/"],
        "hyperparameters": {"n_estimators": 100 + revision, "max_depth": 8, "balanced": True},
        "resources": {"cpu": "2", "memory": "4Gi"},
        "output": {"uri": f"s3://models/training-{index:05d}/{{run}}/model.joblib"},
        "timeout": "2h",
        "historyLimit": 2,
    }


def _pipeline(index: int, revision: int) -> dict[str, object]:
    image = f"ghcr.io/acme-ml/pipeline:3.{revision}"
    root = f"s3://data/pipeline-{index:05d}/{{run}}"
    return {
        "steps": [
            {
                "name": "prepare",
                "image": image,
                "command": ["python", "-m", "prepare"],
                "resources": {"cpu": "1", "memory": "2Gi"},
                "outputs": {"train": f"{root}/train.parquet", "test": f"{root}/test.parquet"},
            },
            {
                "name": "train",
                "image": image,
                "command": ["python", "-m", "train"],
                "dependsOn": ["prepare"],
                "resources": {"cpu": "2", "memory": "4Gi"},
                "outputs": {"model": f"{root}/model.ubj"},
            },
            {
                "name": "evaluate",
                "image": image,
                "command": ["python", "-m", "evaluate"],
                "dependsOn": ["train"],
                "resources": {"cpu": "1", "memory": "1Gi"},
                "outputs": {"report": f"{root}/metrics.json"},
            },
        ],
        "historyLimit": 2,
    }


_BODIES = {"serving": _serving, "kserve": _kserve, "training": _training, "pipeline": _pipeline}


def git(*args: str, cwd: Path) -> str:
    # No user or system configuration: the repository is the same on every machine.
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(
        ["git", *_GIT_CONFIG, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


class SpecRepository:
    """A bare repository (what the reconciler watches) and a work tree that pushes into it."""

    def __init__(self, root: Path, specs: list[SpecFile]) -> None:
        self.bare = root / "specs.git"
        self.work = root / "work"
        self.specs = specs
        root.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "-q", str(self.bare), cwd=root)
        git("init", "-q", str(self.work), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        for spec in specs:
            target = self.work / spec.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(spec_text(spec), encoding="utf-8")
        self.commit(f"{len(specs)} specs")

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self) -> None:
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)

    def change(self, spec: SpecFile, revision: int) -> str:
        (self.work / spec.path).write_text(spec_text(spec, revision), encoding="utf-8")
        return self.commit(f"{spec.name}: revision {revision}")

    def remove(self, spec: SpecFile) -> str:
        (self.work / spec.path).unlink()
        return self.commit(f"{spec.name}: removed")
