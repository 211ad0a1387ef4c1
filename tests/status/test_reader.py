"""`reconciler status` and the reader, over a status branch written by StatusWriter."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pygit2
import pytest
import structlog

from reconciler.commands import status as status_command
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import (
    REPOSITORY_FILE,
    Phase,
    PruneGuard,
    RepositoryStatus,
    SpecStatus,
    UnparsableFile,
    status_path,
)
from reconciler.status.reader import parse_status_files, spec_key
from reconciler.status.writer import StatusWriter
from tests.source.remotes import Remote

SOURCE = "c0ffee0123456789abcdef0123456789abcdef01"
OTHER = "feed0000123456789abcdef0123456789abcdef0"


def main(argv: Sequence[str]) -> int:
    """``reconciler status`` as the CLI dispatches it (this command's module only)."""
    parser = argparse.ArgumentParser(prog="reconciler status")
    status_command.add_arguments(parser)
    return status_command.run(parser.parse_args(argv))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # The command sends its logs to stderr; give other tests back the configuration they had.
    config = structlog.get_config()
    yield
    structlog.configure(**config)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path / "origin")
    remote.commit({"serving/fraud.yaml": "kind: ModelDeployment\n"}, "specs")
    repo = pygit2.init_repository(str(tmp_path / "writer"), bare=True)
    files = {
        status_path(SpecKey("ModelDeployment", "ml", "fraud-detector")): SpecStatus(
            SOURCE,
            Phase.READY,
            "2/2 replicas ready",
            extra={"replicas": {"ready": 2, "desired": 2}},
        ).to_yaml(),
        status_path(SpecKey("TrainingJob", "ml", "churn")): SpecStatus(
            OTHER, Phase.FAILED, "BackoffLimitExceeded:\nexit code 1"
        ).to_yaml(),
        status_path(SpecKey("Pipeline", "default", "etl")): SpecStatus(
            SOURCE, Phase.PROGRESSING, "step train running"
        ).to_yaml(),
        REPOSITORY_FILE: RepositoryStatus(
            SOURCE,
            Phase.DEGRADED,
            "1 file could not be parsed",
            (UnparsableFile("bad.yaml", 4, "could not find expected ':'"),),
            PruneGuard(held=True, reason="would delete 9 of 10 objects"),
        ).to_yaml(),
    }
    assert StatusWriter(repo, str(remote.bare)).write(files, "status") is not None
    return remote


def test_table(remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", str(remote.bare)]) == 1  # churn is Failed
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "SPEC            KIND             NAMESPACE  PHASE        MESSAGE                            SOURCE",
        "etl             Pipeline         default    Progressing  step train running                 c0ffee0",
        "fraud-detector  ModelDeployment  ml         Ready        2/2 replicas ready                 c0ffee0",
        "churn           TrainingJob      ml         Failed       BackoffLimitExceeded: exit code 1  feed000",
        "",
        "repository: Degraded at c0ffee0 (1 file could not be parsed)",
        "  unparsable: bad.yaml:4: could not find expected ':'",
        "  prune guard held: would delete 9 of 10 objects",
    ]


def test_json(remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", f"file://{remote.bare}", "--output", "json"]) == 1  # churn Failed
    data = json.loads(capsys.readouterr().out)
    assert [(s["namespace"], s["kind"], s["spec"], s["phase"]) for s in data["specs"]] == [
        ("default", "Pipeline", "etl", "Progressing"),
        ("ml", "ModelDeployment", "fraud-detector", "Ready"),
        ("ml", "TrainingJob", "churn", "Failed"),
    ]
    assert data["specs"][1]["replicas"] == {"desired": 2, "ready": 2}
    assert data["repository"]["sourcePhase"] == "Degraded"


def test_missing_branch_exits_2(remote: Remote, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", str(remote.bare), "--status-branch", "nope"]) == 2
    assert "branch 'nope' does not exist" in capsys.readouterr().err


def test_missing_repository_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", str(tmp_path / "absent.git")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unreadable_files_are_reported_not_fatal() -> None:
    snapshot = parse_status_files(
        {
            "ml/modeldeployment/a.yaml": b"phase: Ready\nobservedCommit: x\n",
            "ml/modeldeployment/b.yaml": b"phase: Sleeping\n",
            "README.md": b"# notes\n",
        }
    )
    assert [e.key.name for e in snapshot.specs] == ["a"]
    assert len(snapshot.problems) == 1
    assert snapshot.problems[0].startswith("ml/modeldeployment/b.yaml")


def test_spec_key_from_path() -> None:
    assert spec_key("ml/trainingjob/churn.yaml") == SpecKey("TrainingJob", "ml", "churn")
    assert spec_key("repository.yaml") is None
    assert spec_key("ml/notes.txt") is None
