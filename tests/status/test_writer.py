"""StatusWriter against a real bare remote; a second clone plays the other writer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from structlog.testing import capture_logs

from reconciler.errors import SourceError
from reconciler.source.git import GitSource
from reconciler.status.writer import StatusWriter
from tests.source.remotes import Remote, git
from tests.waiting import wait_for


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path / "origin")
    remote.commit({"serving/fraud.yaml": "kind: ModelDeployment\n"}, "specs")
    return remote


@pytest.fixture
def writer(remote: Remote, tmp_path: Path) -> StatusWriter:
    source = GitSource(str(remote.bare), "main", tmp_path / "cache")
    source.fetch()
    return StatusWriter(source.repo, str(remote.bare))


def remote_files(remote: Remote, ref: str = "status") -> dict[str, str]:
    names = git("ls-tree", "-r", "--name-only", ref, cwd=remote.bare).splitlines()
    return {name: git("show", f"{ref}:{name}", cwd=remote.bare) + "\n" for name in names}


def commits(remote: Remote, ref: str = "status") -> list[str]:
    return git("rev-list", ref, cwd=remote.bare).splitlines()


FILES = {
    "ml/modeldeployment/fraud.yaml": b"phase: Ready\n",
    "ml/trainingjob/train.yaml": b"phase: Succeeded\n",
    "repository.yaml": b"sourcePhase: Ready\n",
}


def test_first_write_creates_an_orphan_branch(writer: StatusWriter, remote: Remote) -> None:
    commit = writer.write(FILES, "first status")
    assert commit is not None
    assert git("rev-parse", "status", cwd=remote.bare) == str(commit)
    assert remote_files(remote) == {k: v.decode() for k, v in FILES.items()}
    assert len(commits(remote)) == 1
    assert git("log", "-1", "--format=%P", "status", cwd=remote.bare) == ""  # no parent
    assert git("log", "-1", "--format=%s", "status", cwd=remote.bare) == "first status"
    assert "main" in git("branch", "--list", "main", cwd=remote.bare)  # spec branch untouched


def test_same_files_again_make_no_commit_and_no_network_call(
    writer: StatusWriter, remote: Remote, tmp_path: Path
) -> None:
    first = writer.write(FILES, "first")
    # With the remote gone, any fetch or push would fail: no delta must mean no network at all.
    shutil.move(remote.bare, tmp_path / "moved.git")
    assert writer.write(dict(FILES), "again") is None
    assert writer.tip == first


def test_changing_one_file_makes_one_commit_touching_only_it(
    writer: StatusWriter, remote: Remote
) -> None:
    writer.write(FILES, "first")
    changed = {**FILES, "ml/modeldeployment/fraud.yaml": b"phase: Degraded\n"}
    commit = writer.write(changed, "fraud degraded")
    assert commit is not None
    assert len(commits(remote)) == 2
    touched = git("diff", "--name-only", "status~1", "status", cwd=remote.bare).splitlines()
    assert touched == ["ml/modeldeployment/fraud.yaml"]


def test_removing_a_spec_removes_its_file_and_empty_directories(
    writer: StatusWriter, remote: Remote
) -> None:
    writer.write(FILES, "first")
    remaining = {k: v for k, v in FILES.items() if "trainingjob" not in k}
    assert writer.write(remaining, "train removed") is not None
    assert set(remote_files(remote)) == set(remaining)
    assert "ml/trainingjob" not in git(
        "ls-tree", "-r", "-t", "--name-only", "status", cwd=remote.bare
    )


def test_rejected_push_is_retried_on_top_of_the_other_writer(
    writer: StatusWriter, remote: Remote, tmp_path: Path
) -> None:
    first = writer.write(FILES, "first")
    # Another writer pushes a commit with another file to the status branch.
    other = tmp_path / "other"
    git("clone", "-q", "--branch", "status", str(remote.bare), str(other), cwd=tmp_path)
    (other / "ml" / "pipeline").mkdir(parents=True)
    (other / "ml" / "pipeline" / "etl.yaml").write_text("phase: Ready\n")
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "other writer", cwd=other)
    git("push", "-q", "origin", "status", cwd=other)
    theirs = git("rev-parse", "HEAD", cwd=other)

    ours = writer.write({**FILES, "repository.yaml": b"sourcePhase: Degraded\n"}, "ours")

    assert ours is not None
    assert git("rev-parse", "status", cwd=remote.bare) == str(ours)
    files = remote_files(remote)
    assert files["ml/pipeline/etl.yaml"] == "phase: Ready\n"  # theirs kept
    assert files["repository.yaml"] == "sourcePhase: Degraded\n"  # ours applied
    assert commits(remote) == [str(ours), theirs, str(first)]  # no force: history intact
    # Our next write still does not name their file: it is theirs, so it stays.
    writer.write({**FILES, "repository.yaml": b"sourcePhase: Ready\n"}, "ours again")
    assert remote_files(remote)["ml/pipeline/etl.yaml"] == "phase: Ready\n"


def test_retry_finds_the_same_content_already_pushed(
    writer: StatusWriter, remote: Remote, tmp_path: Path
) -> None:
    writer.write(FILES, "first")
    other = tmp_path / "other"
    git("clone", "-q", "--branch", "status", str(remote.bare), str(other), cwd=tmp_path)
    (other / "repository.yaml").write_text("sourcePhase: Failed\n")
    git("commit", "-q", "-am", "same change elsewhere", cwd=other)
    git("push", "-q", "origin", "status", cwd=other)
    theirs = git("rev-parse", "HEAD", cwd=other)
    assert writer.write({**FILES, "repository.yaml": b"sourcePhase: Failed\n"}, "ours") is None
    assert git("rev-parse", "status", cwd=remote.bare) == theirs
    assert str(writer.tip) == theirs


def test_a_new_writer_continues_the_existing_branch(
    writer: StatusWriter, remote: Remote, tmp_path: Path
) -> None:
    first = writer.write(FILES, "first")
    repo = pygit2.init_repository(str(tmp_path / "fresh"), bare=True)
    fresh = StatusWriter(repo, str(remote.bare))
    assert fresh.read() == FILES
    assert fresh.write(FILES, "same") is None
    second = fresh.write({**FILES, "repository.yaml": b"sourcePhase: Failed\n"}, "next")
    assert git("log", "-1", "--format=%P", "status", cwd=remote.bare) == str(first)
    assert second is not None


def test_read_of_a_missing_branch_is_empty(writer: StatusWriter) -> None:
    assert writer.read() == {}
    assert writer.tip is None


def test_unreachable_remote_is_a_source_error(remote: Remote, tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "fresh"), bare=True)
    writer = StatusWriter(repo, str(tmp_path / "absent.git"))
    with pytest.raises(SourceError, match="does not exist"):
        writer.write(FILES, "first")


@pytest.mark.parametrize("path", ["/abs.yaml", "a/../b.yaml", "a//b.yaml", ".git/config", ""])
def test_paths_outside_the_tree_are_refused(writer: StatusWriter, path: str) -> None:
    with pytest.raises(ValueError, match="not a relative"):
        writer.write({path: b"x"}, "bad")


def test_five_thousand_files(writer: StatusWriter, remote: Remote) -> None:
    files = {
        f"ns{i % 10}/{('modeldeployment', 'trainingjob', 'pipeline')[i % 3]}/spec-{i}.yaml": (
            f"observedCommit: {i:040x}\nphase: Ready\nmessage: spec {i} is ready\n".encode()
        )
        for i in range(5000)
    }
    files["repository.yaml"] = b"sourcePhase: Ready\n"
    started = time.perf_counter()
    assert writer.write(files, "5000 specs") is not None
    first_ms = (time.perf_counter() - started) * 1000
    files["ns3/modeldeployment/spec-3.yaml"] = b"phase: Failed\n"
    started = time.perf_counter()
    assert writer.write(files, "one change") is not None
    one_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    assert writer.write(files, "nothing") is None
    none_ms = (time.perf_counter() - started) * 1000
    print(
        f"5,000 files: first write {first_ms:.0f} ms, one change {one_ms:.0f} ms, none {none_ms:.0f} ms"
    )
    assert len(remote_files_names(remote)) == 5001
    assert git("show", "status:ns7/trainingjob/spec-7.yaml", cwd=remote.bare).endswith(
        "spec 7 is ready"
    )
    git("fsck", "--strict", cwd=Path(writer.repo.path))  # the pack written for the blobs is sound
    assert first_ms < 10_000


def remote_files_names(remote: Remote) -> list[str]:
    return git("ls-tree", "-r", "--name-only", "status", cwd=remote.bare).splitlines()


@pytest.fixture
def daemon_remote(remote: Remote, tmp_path: Path) -> Iterator[str]:
    """``remote`` served over the git:// protocol, so refused refs arrive as a server report."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
            f"--base-path={remote.bare.parent}", "--export-all", "--enable=receive-pack",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _accepts(port), what="git daemon listening")
        yield f"git://127.0.0.1:{port}/{remote.bare.name}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_refusal_reported_by_the_server_is_retried(
    daemon_remote: str, remote: Remote, tmp_path: Path
) -> None:
    repo = pygit2.init_repository(str(tmp_path / "writer"), bare=True)
    writer = StatusWriter(repo, daemon_remote)
    first = writer.write(FILES, "first")
    # The server refuses the next update once, as a busy or protected ref would.
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nif [ -e reject-once ]; then rm reject-once; echo busy >&2; exit 1; fi\n"
    )
    hook.chmod(0o755)
    (remote.bare / "reject-once").write_text("")
    with capture_logs() as logs:
        second = writer.write({**FILES, "repository.yaml": b"sourcePhase: Failed\n"}, "second")
    assert second is not None
    rejected = [e for e in logs if e["event"] == "status.push_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["reason"].startswith("refs/heads/status:")  # from push_update_reference
    assert not (remote.bare / "reject-once").exists()  # the refusal really happened
    assert commits(remote) == [str(second), str(first)]
