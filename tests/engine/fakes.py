"""Fakes for the engine's ports: a spec repository written in-process with pygit2, a cluster held
in dicts, a status branch held in memory, and a clock that moves only when told.

They stand in for the API server, the watch caches and Git pushes so that a reconcile runs in
milliseconds: the real parts are covered by the component and end-to-end tests (tests/loop,
tests/reliability). Each fake keeps a log of the calls that would have reached the world.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2
import yaml

from reconciler.cluster.apply import Lookup, WriteResult
from reconciler.engine import MANAGED_KINDS, Cluster, Engine, EngineOptions
from reconciler.inventory import ObjectRef, owner_spec
from reconciler.specs.loaded import SpecKey

INSTANCE = "test"
NAMESPACE = "ml"
_SIGNATURE = pygit2.Signature("test", "test@example.com", 1_700_000_000, 0)


class Repository:
    """A bare spec repository; ``commit`` replaces the whole tree of ``main``."""

    def __init__(self, root: Path) -> None:
        self.repo = pygit2.init_repository(str(root / "specs.git"), bare=True)
        self.head: str | None = None

    def commit(self, files: Mapping[str, str]) -> str:
        tree = self._tree(files)
        parents = [pygit2.Oid(hex=self.head)] if self.head else []
        oid = self.repo.create_commit(
            "refs/heads/main", _SIGNATURE, _SIGNATURE, "change", tree, parents
        )
        self.head = str(oid)
        return self.head

    def _tree(self, files: Mapping[str, str]) -> pygit2.Oid:
        builder = self.repo.TreeBuilder()
        folders: dict[str, dict[str, str]] = {}
        for path, content in files.items():
            top, _, rest = path.partition("/")
            if rest:
                folders.setdefault(top, {})[rest] = content
            else:
                builder.insert(
                    top, self.repo.create_blob(content.encode()), pygit2.GIT_FILEMODE_BLOB
                )
        for name, inner in folders.items():
            builder.insert(name, self._tree(inner), pygit2.GIT_FILEMODE_TREE)
        return builder.write()

    # The engine's Source port.
    def fetch(self) -> str:
        assert self.head is not None, "commit something first"
        return self.head


def serving(
    name: str, image: str = "registry.example/serve:1", model: dict[str, Any] | None = None
) -> str:
    """A serving spec; its model a URI of its own unless ``model`` says otherwise."""
    return yaml.safe_dump(
        {
            "apiVersion": "mlops/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "model": model or {"uri": f"s3://models/{name}"},
                "format": "sklearn",
                "image": image,
            },
        }
    )


def training(name: str, output: str | None = None) -> str:
    spec: dict[str, Any] = {"image": "registry.example/train:1", "command": ["python", "train.py"]}
    if output is not None:
        spec["output"] = {"uri": output}
    return yaml.safe_dump(
        {
            "apiVersion": "mlops/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }
    )


def key(kind: str, name: str) -> SpecKey:
    return SpecKey(kind, NAMESPACE, name)


class FakeKinds:
    """Discovery: every kind is served unless named in ``crash_on`` (then asking is a bug)."""

    def __init__(self) -> None:
        self.crash_on: set[str] = set()

    def served(self, api_version: str, kind: str) -> bool:
        if kind in self.crash_on:
            raise RuntimeError(f"a bug met while asking about {kind}")
        return True

    def refresh(self) -> None:
        pass


class FakeObjects:
    """The watch cache over ``FakeCluster.store``: what the API server holds, seen at once."""

    def __init__(self, store: dict[ObjectRef, dict[str, Any]]) -> None:
        self.store = store

    @property
    def served_kinds(self) -> list[tuple[str, str]]:
        return list(MANAGED_KINDS)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sync_kinds(self) -> None:
        pass

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        found = self.store.get(ref)
        return copy.deepcopy(found) if found is not None else None

    def owned_by(self, owner: SpecKey) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for ref, o in sorted(self.store.items()) if owner_spec(o) == owner]

    def versions(self, owner: SpecKey) -> list[str | None]:
        return [o["metadata"].get("resourceVersion") for o in self.owned_by(owner)]

    def owners(self) -> set[SpecKey]:
        return {found for o in self.store.values() if (found := owner_spec(o)) is not None}


class FakeWriter:
    """Server-side apply into the store; a Deployment becomes available at once, as if its
    controller had rolled it out. ``fail`` names objects whose writes the server refuses."""

    def __init__(self, store: dict[ObjectRef, dict[str, Any]]) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []  # (verb, object or namespace)
        self.fail: set[str] = set()
        self._versions = itertools.count(1)

    def apply(
        self, objects: Sequence[dict[str, Any]], owners: Mapping[ObjectRef, SpecKey] = {}
    ) -> list[WriteResult]:
        results = []
        for obj in objects:
            ref = ObjectRef.from_object(obj)
            self.calls.append(("apply", ref.name))
            if ref.name in self.fail:
                results.append(WriteResult(ref, "apply", error="the server refused it"))
                continue
            self.store[ref] = self._live(obj, self.store.get(ref))
            results.append(WriteResult(ref, "apply"))
        return results

    def delete(
        self, refs: Sequence[ObjectRef], owners: Mapping[ObjectRef, SpecKey] = {}
    ) -> list[WriteResult]:
        for ref in refs:
            self.calls.append(("delete", ref.name))
            self.store.pop(ref, None)
        return [WriteResult(ref, "delete") for ref in refs]

    def lookup(self, refs: Sequence[ObjectRef]) -> Lookup:
        self.calls.extend(("lookup", ref.name) for ref in refs)
        return Lookup(found={ref: self.store[ref] for ref in refs if ref in self.store})

    def ensure_namespace(self, name: str) -> str | None:
        self.calls.append(("namespace", name))
        return None

    def _live(self, obj: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        live = copy.deepcopy(obj)
        metadata = live["metadata"]
        metadata["uid"] = before["metadata"]["uid"] if before else f"uid-{metadata['name']}"
        metadata["resourceVersion"] = str(next(self._versions))
        metadata["generation"] = 1
        if live["kind"] == "Deployment":
            replicas = live["spec"].get("replicas", 1)
            live["status"] = {
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True"}],
            }
        return live

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] in ("apply", "delete")]


class FakeCluster:
    def __init__(self) -> None:
        self.store: dict[ObjectRef, dict[str, Any]] = {}
        self.kinds = FakeKinds()
        self.objects = FakeObjects(self.store)
        self.pods = FakeObjects({})
        self.writer = FakeWriter(self.store)

    def port(self) -> Cluster:
        return Cluster(kinds=self.kinds, objects=self.objects, pods=self.pods, writer=self.writer)

    def names(self, kind: str) -> list[str]:
        return sorted(ref.name for ref in self.store if ref.kind == kind)


class FakeStatusWriter:
    """The status branch in memory: every commit's files, and the notes."""

    branch = "status"

    def __init__(self) -> None:
        self.commits: list[tuple[dict[str, bytes], str]] = []
        self.notes: dict[str, str] = {}

    @property
    def files(self) -> dict[str, bytes]:
        return self.commits[-1][0] if self.commits else {}

    def read(self) -> dict[str, bytes]:
        return dict(self.files)

    def write(self, files: Mapping[str, bytes], message: str) -> str:
        self.commits.append((dict(files), message))
        return f"status-{len(self.commits)}"

    def read_note(self, commit: str) -> str | None:
        return self.notes.get(commit)

    def write_notes(self, notes: Mapping[str, str]) -> str:
        self.notes.update(notes)
        return "notes"

    def status(self, kind: str, name: str) -> dict[str, Any] | None:
        raw = self.files.get(f"{NAMESPACE}/{kind.lower()}/{name}.yaml")
        return yaml.safe_load(raw) if raw is not None else None

    def repository(self) -> dict[str, Any]:
        return yaml.safe_load(self.files["repository.yaml"])


class FakeClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        self.seconds = 1000.0

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)
        self.seconds += seconds


def engine(
    repository: Repository,
    cluster: FakeCluster,
    status: FakeStatusWriter,
    clock: FakeClock,
    **options: Any,
) -> Engine:
    return Engine(
        repository,  # type: ignore[arg-type]  # fetch and repo are all a Source needs
        cluster.port(),
        status,  # type: ignore[arg-type]
        EngineOptions(instance=INSTANCE, **options),
        clock=clock,
    )
