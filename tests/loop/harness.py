"""The whole loop in one test: a cluster, a bare spec repository, a running Service."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
import yaml
from kubernetes import client as k8s

from reconciler import config
from reconciler.service import Service
from reconciler_sandbox.core import Sandbox
from tests.cluster.fixtures import Cluster
from tests.source.remotes import Remote, branch_files
from tests.waiting import wait_for


@dataclass(frozen=True)
class Document:
    """A spec document without its namespace: the loop that commits it names the namespace, so
    module-level specs serve every test, each in a namespace of its own."""

    kind: str
    name: str
    spec: dict[str, Any]

    def yaml(self, namespace: str) -> str:
        document = {
            "apiVersion": "mlops/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": self.spec,
        }
        return yaml.safe_dump(document, sort_keys=False)


def serving(name: str, replicas: int = 1, uri: str = "s3://models/m/1", **spec: Any) -> Document:
    body = {
        "model": {"uri": uri},
        "image": "ghcr.io/acme/server:1.0",
        "replicas": replicas,
        **spec,
    }
    return Document("ModelDeployment", name, body)


def training(name: str, **spec: Any) -> Document:
    return Document("TrainingJob", name, {"image": "ghcr.io/acme/train:1.0", **spec})


class Loop:
    def __init__(
        self, root: Path, cluster: Cluster | Sandbox, namespace: str | None = None
    ) -> None:
        """``namespace``: one that exists or that the reconciler makes; by default a fresh one
        made for this loop alone."""
        if isinstance(cluster, Sandbox):
            cluster = Cluster("sandbox", cluster.kubeconfig_path, cluster)
        self.root = root
        self.namespace = namespace or cluster.namespace()
        """Where this loop's specs go: ``Document`` files are committed into it."""
        self.remote = Remote(root / "git")
        self.cluster = cluster
        self.sandbox = cluster.sandbox
        self.api = cluster.api_client()
        self.apps = k8s.AppsV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)
        self.batch = k8s.BatchV1Api(self.api)
        self.service: Service | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ git

    def commit(
        self,
        files: Mapping[str, str | Document | None],
        message: str = "change",
        branch: str = "main",
    ) -> str:
        return self.remote.commit(
            {path: self.text(file) for path, file in files.items()}, message, branch
        )

    def text(self, file: str | Document | None) -> str | None:
        """A file's content, a ``Document`` placed in this loop's namespace."""
        return file.yaml(self.namespace) if isinstance(file, Document) else file

    def status_files(self) -> dict[str, bytes]:
        return branch_files(self.remote.bare, "status")

    def status_commits(self) -> int:
        repo = pygit2.Repository(str(self.remote.bare))
        ref = repo.references.get("refs/heads/status")
        return 0 if ref is None else sum(1 for _ in repo.walk(ref.target))

    def status(self, kind: str, name: str) -> dict[str, Any] | None:
        raw = self.status_files().get(f"{self.namespace}/{kind.lower()}/{name}.yaml")
        return None if raw is None else yaml.safe_load(raw)

    def wait_phase(self, kind: str, name: str, phase: str, timeout: float = 30) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.status(kind, name)
            return found if found is not None and found["phase"] == phase else None

        return wait_for(check, timeout, what=f"{kind} {name} to be {phase}")

    # ------------------------------------------------------------------ service

    def settings(self, **overrides: Any) -> config.Settings:
        flags = {option.name: None for option in config.OPTIONS}
        flags.update(
            repo=str(self.remote.bare),
            kubeconfig=str(self.cluster.kubeconfig_path),
            cache_dir=str(self.root / "cache"),
            interval="60",
        )
        flags.update({k: str(v) if not isinstance(v, bool) else v for k, v in overrides.items()})
        return config.load_settings(flags, {})

    def start(self, **overrides: Any) -> Service:
        service = Service.open(self.settings(**overrides))
        service.start()
        self._thread = threading.Thread(target=service.run_forever, daemon=True)
        self._thread.start()
        self.service = service
        return service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            assert self._thread is not None
            self._thread.join(10)
            self.service = None

    def reconciled(self, commit: str, timeout: float = 30) -> None:
        """Wait until the status branch says ``commit`` was reconciled."""

        def done() -> bool:
            raw = self.status_files().get("repository.yaml")
            return raw is not None and yaml.safe_load(raw).get("sourceCommit") == commit

        wait_for(done, timeout, what=f"{commit[:7]} reconciled")

    def idle(self, timeout: float = 30) -> None:
        """Wait until no reconcile is running or queued."""
        assert self.service is not None
        engine = self.service.engine
        wait_for(lambda: engine.idle, timeout, what="engine idle")


@contextmanager
def running_loop(
    root: Path, cluster: Cluster | Sandbox, namespace: str | None = None
) -> Iterator[Loop]:
    loop = Loop(root, cluster, namespace)
    try:
        yield loop
    finally:
        loop.stop()
        loop.api.close()
