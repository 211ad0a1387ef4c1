"""Differential conformance: each corpus file runs on the sandbox and on the real API server.

Every difference between the two normalized answers must be listed in known_differences.yaml
(corpus file, step, JSON path, reason; docs/sandbox.md explains them); an unlisted difference
fails, and so does a listed one that no longer happens, so the list stays measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler_sandbox.testing import running_sandbox
from tests.cluster.fixtures import Cluster
from tests.cluster.real import RealCluster
from tests.conformance import runner

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.yaml"))
KNOWN = yaml.safe_load((HERE / "known_differences.yaml").read_text())["differences"]


@pytest.fixture(scope="module")
def sandbox_cluster() -> Iterator[Cluster]:
    with running_sandbox(deployment_delay=0.05) as sandbox:
        chosen = Cluster("sandbox", sandbox.kubeconfig_path, sandbox)
        yield chosen
        chosen.close()


@pytest.fixture(scope="module")
def real(real_cluster: RealCluster) -> Iterator[Cluster]:
    chosen = Cluster("real", real_cluster.kubeconfig_path)
    yield chosen
    chosen.close()


def results(cluster: Cluster, steps: list[dict[str, Any]]) -> dict[str, Any]:
    namespace = cluster.namespace()
    endpoint = runner.Endpoint.from_kubeconfig(cluster.kubeconfig_path)
    try:
        return runner.run(endpoint, cluster.name, steps, namespace)
    finally:
        endpoint.request("DELETE", f"/api/v1/namespaces/{namespace}")


def listed(corpus: str, step: str, path: str) -> dict[str, str] | None:
    for entry in KNOWN:
        if entry["corpus"] != corpus or entry["step"] not in (step, "*"):
            continue
        prefix = entry["path"]
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return entry
    return None


@pytest.mark.parametrize("corpus", CORPUS, ids=[path.stem for path in CORPUS])
def test_sandbox_answers_like_the_real_api_server(
    corpus: Path, sandbox_cluster: Cluster, real: Cluster
) -> None:
    steps = runner.load(corpus)
    on_sandbox = results(sandbox_cluster, steps)
    on_real = results(real, steps)
    unlisted, used = [], set()
    for step in on_sandbox.keys() & on_real.keys():
        for path, mine, theirs in runner.differences(on_sandbox[step], on_real[step]):
            entry = listed(corpus.stem, step, path)
            if entry is None:
                unlisted.append(f"{step} {path}: sandbox {_show(mine)}, real {_show(theirs)}")
            else:
                used.add(id(entry))
    stale = [
        f"{entry['step']} {entry['path']}"
        for entry in KNOWN
        if entry["corpus"] == corpus.stem and id(entry) not in used
    ]
    assert not unlisted, "differences not in known_differences.yaml:\n" + "\n".join(unlisted)
    assert not stale, "listed in known_differences.yaml but not measured any more:\n" + "\n".join(
        stale
    )


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) < 300 else text[:300] + "..."
