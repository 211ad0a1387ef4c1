"""Status file shapes: deterministic YAML, round trips, transitions and commit messages."""

from __future__ import annotations

import pytest

from reconciler.specs.loaded import SpecKey
from reconciler.status.model import (
    Condition,
    Phase,
    PruneGuard,
    RepositoryStatus,
    ResourceRef,
    SpecStatus,
    StatusChange,
    UnparsableFile,
    carry_transitions,
    commit_message,
    status_path,
)

SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5"
T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-02T00:00:00Z"


def serving(ready: int = 2, phase: Phase = Phase.READY, time: str = T0) -> SpecStatus:
    return SpecStatus(
        observed_commit=SHA,
        phase=phase,
        message=f"{ready}/2 replicas ready",
        conditions=(
            Condition("Ready", "True" if ready == 2 else "False", "Available", "", time),
            Condition("Applied", "True", "Applied", "", time),
        ),
        resources=(
            ResourceRef("v1", "Service", "ml", "fraud-detector"),
            ResourceRef("apps/v1", "Deployment", "ml", "fraud-detector"),
        ),
        extra={"replicas": {"ready": ready, "desired": 2}, "modelUri": "s3://models/fraud/v3"},
    )


def test_yaml_layout_is_fixed_and_camel_case() -> None:
    text = serving().to_yaml().decode()
    assert text == (
        f"observedCommit: {SHA}\n"
        "phase: Ready\n"
        "message: 2/2 replicas ready\n"
        "conditions:\n"
        "- type: Applied\n"
        "  status: 'True'\n"
        "  reason: Applied\n"
        "  message: ''\n"
        "  lastTransitionTime: '2025-01-01T00:00:00Z'\n"
        "- type: Ready\n"
        "  status: 'True'\n"
        "  reason: Available\n"
        "  message: ''\n"
        "  lastTransitionTime: '2025-01-01T00:00:00Z'\n"
        "resources:\n"
        "- apiVersion: apps/v1\n"
        "  kind: Deployment\n"
        "  namespace: ml\n"
        "  name: fraud-detector\n"
        "- apiVersion: v1\n"
        "  kind: Service\n"
        "  namespace: ml\n"
        "  name: fraud-detector\n"
        "modelUri: s3://models/fraud/v3\n"
        "replicas:\n"
        "  desired: 2\n"
        "  ready: 2\n"
    )


def test_bytes_do_not_depend_on_input_order() -> None:
    status = serving()
    shuffled = SpecStatus(
        observed_commit=status.observed_commit,
        phase=status.phase,
        message=status.message,
        conditions=tuple(reversed(status.conditions)),
        resources=tuple(reversed(status.resources)),
        extra={"replicas": {"desired": 2, "ready": 2}, "modelUri": "s3://models/fraud/v3"},
    )
    assert shuffled.to_yaml() == status.to_yaml()


def test_spec_status_round_trip() -> None:
    training = SpecStatus(
        observed_commit=SHA,
        phase=Phase.SUCCEEDED,
        message="run 0badc0de succeeded",
        extra={
            "runs": [
                {
                    "hash": "0badc0de",
                    "phase": "Succeeded",
                    "metrics": {"auc": 0.93, "loss": 0.12},
                    "outputUri": "s3://out/train-0badc0de",
                    "sourceCommit": SHA,
                    "startTime": T0,
                    "endTime": T1,
                }
            ]
        },
    )
    for status in (serving(), training):
        again = SpecStatus.from_yaml(status.to_yaml())
        assert again.to_yaml() == status.to_yaml()
        assert again.phase is status.phase


def test_repository_status_round_trip() -> None:
    repository = RepositoryStatus(
        source_commit=SHA,
        source_phase=Phase.DEGRADED,
        source_message="1 file could not be parsed",
        unparsable_files=(UnparsableFile("serving/bad.yaml", 3, "mapping values are not allowed"),),
        prune_guard=PruneGuard(held=True, reason="would delete 40 of 50 objects"),
    )
    text = repository.to_yaml()
    assert text.startswith(f"sourceCommit: {SHA}\nsourcePhase: Degraded\n".encode())
    assert RepositoryStatus.from_yaml(text) == repository


def test_common_keys_cannot_be_shadowed() -> None:
    with pytest.raises(ValueError, match="common keys"):
        SpecStatus(observed_commit=SHA, phase=Phase.READY, extra={"phase": "x"})
    with pytest.raises(ValueError):
        SpecStatus(observed_commit=SHA, phase="Sleeping")  # type: ignore[arg-type]


def test_status_path() -> None:
    assert status_path(SpecKey("ModelDeployment", "ml", "fraud")) == "ml/modeldeployment/fraud.yaml"


def test_carry_transitions_keeps_time_while_status_is_unchanged() -> None:
    old = serving(ready=2, time=T0)
    same = carry_transitions(old, serving(ready=2, time=T1))
    assert {c.last_transition_time for c in same.conditions} == {T0}
    assert same.to_yaml() == old.to_yaml()
    flipped = carry_transitions(old, serving(ready=1, phase=Phase.DEGRADED, time=T1))
    times = {c.type: c.last_transition_time for c in flipped.conditions}
    assert times == {"Ready": T1, "Applied": T0}
    assert carry_transitions(None, serving(time=T1)) == serving(time=T1)


def test_commit_message_for_one_spec() -> None:
    key = SpecKey("ModelDeployment", "ml", "fraud-detector")
    message = commit_message([StatusChange(key, serving())], SHA)
    subject, _, rest = message.partition("\n")
    assert subject == "fraud-detector: Ready (2/2 replicas) at 1a2b3c4"
    assert rest.rstrip().endswith(f"Source-Commit: {SHA}")


def test_commit_message_for_several_specs() -> None:
    failed = SpecStatus(SHA, Phase.FAILED, "BackoffLimitExceeded: exit code 1")
    changes = [
        StatusChange(SpecKey("TrainingJob", "ml", "b"), failed),
        StatusChange(SpecKey("ModelDeployment", "ml", "a"), serving()),
        StatusChange(SpecKey("Pipeline", "ml", "c"), None),
    ]
    message = commit_message(changes, SHA)
    assert message == (
        "3 specs changed at 1a2b3c4: a Ready, b Failed, c removed\n"
        "\n"
        "- ModelDeployment/ml/a: Ready (2/2 replicas): 2/2 replicas ready\n"
        "- TrainingJob/ml/b: Failed (BackoffLimitExceeded: exit code 1)\n"
        "- Pipeline/ml/c: removed\n"
        "\n"
        f"Source-Commit: {SHA}\n"
    )


def test_commit_message_details_per_kind() -> None:
    key = SpecKey("Pipeline", "ml", "p")
    steps = SpecStatus(
        SHA,
        Phase.PROGRESSING,
        extra={
            "steps": [{"name": "prep", "phase": "Succeeded"}, {"name": "train", "phase": "Running"}]
        },
    )
    assert commit_message([StatusChange(key, steps)], SHA).startswith(
        "p: Progressing (1/2 steps succeeded) at 1a2b3c4\n"
    )
    runs = SpecStatus(
        SHA,
        Phase.SUCCEEDED,
        # Runs are listed newest first; the subject names the spec's current run.
        extra={"currentRun": "p-bbbb2222", "runs": [{"hash": "bbbb2222"}, {"hash": "aaaa1111"}]},
    )
    assert commit_message([StatusChange(key, runs)], SHA).startswith(
        "p: Succeeded (run bbbb2222) at"
    )


def test_commit_message_for_the_repository_only() -> None:
    repository = RepositoryStatus(SHA, Phase.FAILED, "fetch failed: connection refused")
    message = commit_message([], SHA, repository)
    assert message.splitlines()[0] == "repository: Failed at 1a2b3c4"
    assert "fetch failed: connection refused" in message


def test_long_lists_are_cut_in_the_subject() -> None:
    changes = [StatusChange(SpecKey("ModelDeployment", "ml", f"m{i}"), serving()) for i in range(8)]
    subject = commit_message(changes, SHA).splitlines()[0]
    assert subject.endswith("m4 Ready, +3 more")
