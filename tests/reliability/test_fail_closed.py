"""A reconciler.yaml that does not parse or validate changes nothing in the cluster.

Finding: one typo (``allowedNamespace:``) made the loader fall back to defaults, and then an
Invalid spec got a Deployment in kube-system, a 64-GPU Job ran despite ``maxGpusPerSpec: 1``,
specs without a namespace moved to ``default``, and the team's objects were pruned. Here each of
those four is tried end to end on the sandbox: the last good configuration stays in force,
nothing is created, changed or pruned, and repository.yaml and the engine (for /readyz) say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from reconciler_sandbox.testing import running_sandbox
from tests.loop.harness import Loop, running_loop
from tests.waiting import wait_for

GOOD_CONFIG = "defaultNamespace: ml\nallowedNamespaces: [ml]\nmaxGpusPerSpec: 1\n"
TYPO_CONFIG = GOOD_CONFIG.replace("allowedNamespaces", "allowedNamespace")


def _spec(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> str:
    metadata: dict[str, str] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    document = {"apiVersion": "mlops/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}
    return yaml.safe_dump(document, sort_keys=False)


SERVER = {"model": {"uri": "s3://models/m/1"}, "image": "ghcr.io/acme/server:1.0", "replicas": 1}
SPECS = {
    # The team's own objects: one spec names its namespace, one takes defaultNamespace.
    "team/web.yaml": _spec("ModelDeployment", "web", SERVER, namespace="ml"),
    "team/nightly.yaml": _spec("TrainingJob", "nightly", {"image": "ghcr.io/acme/train:1"}),
    # Refused by the good config: outside allowedNamespaces, and over maxGpusPerSpec.
    "bad/kube-dns.yaml": _spec("ModelDeployment", "kube-dns", SERVER, namespace="kube-system"),
    "bad/huge.yaml": _spec(
        "TrainingJob", "huge", {"image": "ghcr.io/acme/train:1", "resources": {"gpu": 64}}
    ),
}


@pytest.fixture
def loop(tmp_path) -> Iterator[Loop]:
    with (
        running_sandbox(deployment_delay=0.05) as sandbox,
        running_loop(tmp_path, sandbox, "ml") as running,
    ):
        yield running


def cluster(loop: Loop) -> dict[tuple[str, str, str], tuple[str, int]]:
    """Every Deployment, Service and Job in any namespace: (kind, ns, name) -> (uid, generation)."""
    found = {}
    for kind, listing in (
        ("Deployment", loop.apps.list_deployment_for_all_namespaces),
        ("Service", loop.core.list_service_for_all_namespaces),
        ("Job", loop.batch.list_job_for_all_namespaces),
    ):
        for item in listing().items:
            meta = item.metadata
            found[(kind, meta.namespace, meta.name)] = (meta.uid, meta.generation)
    return found


def repository(loop: Loop) -> dict[str, Any]:
    return yaml.safe_load(loop.status_files().get("repository.yaml") or b"{}") or {}


def refused(loop: Loop) -> str:
    assert loop.service is not None
    return wait_for(lambda: loop.service.engine.state.config_error, what="the config to be refused")


def test_a_typo_in_reconciler_yaml_changes_nothing_in_the_cluster(loop: Loop) -> None:
    good = loop.commit({"reconciler.yaml": GOOD_CONFIG, **SPECS}, "team specs")
    loop.start()
    loop.wait_phase("ModelDeployment", "web", "Ready")
    loop.wait_phase("TrainingJob", "nightly", "Succeeded")
    loop.wait_phase("TrainingJob", "huge", "Invalid")
    loop.idle()
    before = cluster(loop)
    assert {key[1] for key in before} == {"ml"}

    typo = loop.commit({"reconciler.yaml": TYPO_CONFIG}, "typo")
    error = refused(loop)
    assert loop.service is not None
    loop.service.engine.trigger("resync")  # where the finding saw the team's objects pruned
    loop.idle()

    after = cluster(loop)
    assert after == before  # nothing created, changed or pruned
    # 1. The spec outside allowedNamespaces got nothing in kube-system.
    assert not [key for key in after if key[1] == "kube-system"]
    # 2. No Job for the 64-GPU spec.
    assert not [key for key in after if key[0] == "Job" and key[2].startswith("huge")]
    # 3. The spec without a namespace stayed in ml: nothing moved to default.
    assert not [key for key in after if key[1] == "default"]
    assert [key for key in after if key[0] == "Job" and key[2].startswith("nightly")]
    # 4. Nothing was pruned (checked by the equality above); the statuses stay as they were.
    assert loop.status("ModelDeployment", "web")["phase"] == "Ready"
    assert loop.status("TrainingJob", "huge")["phase"] == "Invalid"

    # Why, naming file, line and field, and which commit stays in force.
    assert error.startswith(f"reconciler.yaml at {typo[:7]} is invalid, {good[:7]} stays in force")
    assert "reconciler.yaml:2:1: (document): unknown field 'allowedNamespace'" in error
    status = wait_for(
        lambda: (found := repository(loop)).get("sourcePhase") == "Failed" and found,
        what="repository.yaml to say why",
    )
    assert status["sourceCommit"] == good
    assert error in status["sourceMessage"]

    fixed = loop.commit({"reconciler.yaml": GOOD_CONFIG}, "fix the typo")
    loop.reconciled(fixed)
    assert loop.service.engine.state.config_error is None
    assert repository(loop)["sourcePhase"] == "Ready"
    assert cluster(loop) == before


def test_a_config_that_does_not_parse_keeps_the_last_good_one(loop: Loop) -> None:
    good = loop.commit({"reconciler.yaml": GOOD_CONFIG, **SPECS}, "team specs")
    loop.start()
    loop.wait_phase("ModelDeployment", "web", "Ready")
    loop.idle()
    before = cluster(loop)

    loop.commit({"reconciler.yaml": "allowedNamespaces: [ml\n"}, "broken YAML")
    error = refused(loop)
    loop.idle()

    assert "reconciler.yaml:2:1" in error
    assert cluster(loop) == before
    assert repository(loop)["sourceCommit"] == good


def test_a_wrong_type_keeps_the_last_good_limit(loop: Loop) -> None:
    loop.commit({"reconciler.yaml": GOOD_CONFIG, **SPECS}, "team specs")
    loop.start()
    loop.wait_phase("TrainingJob", "huge", "Invalid")
    loop.idle()
    before = cluster(loop)

    loop.commit({"reconciler.yaml": GOOD_CONFIG.replace("1\n", "one\n")}, "wrong type")
    error = refused(loop)
    loop.idle()

    assert "reconciler.yaml:3:1: maxGpusPerSpec: Input should be a valid integer" in error
    assert cluster(loop) == before


def test_with_no_good_config_yet_nothing_is_applied(loop: Loop) -> None:
    loop.commit({"reconciler.yaml": TYPO_CONFIG, **SPECS}, "typo from the start")
    loop.start()

    error = refused(loop)
    assert "nothing is applied" in error
    status = wait_for(lambda: repository(loop), what="repository.yaml")
    assert status["sourcePhase"] == "Failed"
    assert status["sourceCommit"] == ""
    assert error in status["sourceMessage"]
    loop.idle()
    assert cluster(loop) == {}
    assert set(loop.status_files()) <= {"repository.yaml", "README.md"}
