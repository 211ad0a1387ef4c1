"""Git notes on spec-branch commits: one per outcome, merged with others' notes, never forced."""

from __future__ import annotations

import pygit2

from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import Condition, SpecStatus
from reconciler.status.notes import CommitWork, note_text, previous_counts
from reconciler.status.writer import NOTES_REF, StatusWriter
from tests.loop.harness import running_loop, serving, training
from tests.source.remotes import git
from tests.waiting import wait_for

HEAD = "a" * 40
OLD = "b" * 40


def status(phase: Phase, commit: str = HEAD, message: str = "", **extra: object) -> SpecStatus:
    return SpecStatus(
        commit, phase, message, (Condition("Ready", "False", "R", message),), (), extra
    )


def test_note_tells_what_the_commit_did():
    run = {"name": "t-1", "phase": "Succeeded", "metrics": {"acc": 0.9}, "sourceCommit": HEAD}
    model = {"uri": "s3://m/t-1", "run": "t-1", "runSourceCommit": HEAD}
    statuses = {
        SpecKey("TrainingJob", "ml", "t"): status(Phase.SUCCEEDED, runs=[run]),
        # Unchanged at this commit, but it now serves the new run: a promotion of this commit.
        SpecKey("ModelDeployment", "ml", "m"): status(Phase.READY, OLD, model=model),
        SpecKey("ModelDeployment", "ml", "bad"): status(Phase.FAILED, message="no\nimage"),
        SpecKey("ModelDeployment", "ml", "old"): status(Phase.FAILED, OLD, message="older"),
    }
    work = CommitWork(HEAD, applied={"Job/ml/t-1", "Deployment/ml/bad"}, pruned={"Job/ml/t-0"})
    work.removed.add(SpecKey("Pipeline", "ml", "gone"))
    text = note_text(work, statuses)
    assert text == (
        "reconciler: Failed at aaaaaaa\n"
        "specs changed: 3 (1 Failed, 1 Succeeded, 1 removed)\n"
        "objects applied: 2, pruned: 1\n"
        "new runs:\n  t-1 Succeeded (acc 0.9)\n"
        "promoted:\n  m serves s3://m/t-1 from run t-1\n"
        "removed:\n  Pipeline/ml/gone\n"
        "failed:\n  ModelDeployment/ml/bad: Failed: no image\n"
    )
    assert previous_counts(text) == (2, 1)


def test_outcome_moves_from_progressing_to_ready_and_keeps_earlier_counts():
    key = SpecKey("ModelDeployment", "ml", "m")
    work = CommitWork(HEAD, floor=(3, 0))
    progressing = note_text(work, {key: status(Phase.PROGRESSING)})
    assert progressing.startswith("reconciler: Progressing at aaaaaaa\n")
    ready = note_text(work, {key: status(Phase.READY)})
    assert ready.startswith("reconciler: Ready at aaaaaaa\n")
    assert "objects applied: 3, pruned: 0" in ready


def test_a_rejected_notes_push_merges_with_the_other_writers_notes(tmp_path):
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    ours = StatusWriter(pygit2.init_repository(str(tmp_path / "a"), bare=True), str(remote))
    theirs = StatusWriter(pygit2.init_repository(str(tmp_path / "b"), bare=True), str(remote))
    assert ours.read_note(HEAD) is None  # our view of the notes ref is now stale
    assert theirs.write_notes({OLD: "theirs\n"}) is not None
    assert ours.write_notes({HEAD: "ours\n"}) is not None
    assert ours.write_notes({HEAD: "ours\n"}) is None  # unchanged: nothing pushed
    repo = pygit2.Repository(str(remote))
    assert repo.lookup_note(HEAD, NOTES_REF).message == "ours\n"
    assert repo.lookup_note(OLD, NOTES_REF).message == "theirs\n"
    tip = repo.references[NOTES_REF].target
    assert len(list(repo.walk(tip))) == 2  # their commit kept, ours on top: no force


def test_git_log_shows_the_outcome_note_after_a_loop_run(tmp_path, cluster):
    with running_loop(tmp_path, cluster) as loop:
        head = loop.commit(
            {"models/a.yaml": serving("model-a"), "training/t.yaml": training("train-t")}
        )
        loop.start()
        loop.wait_phase("ModelDeployment", "model-a", "Ready")
        loop.wait_phase("TrainingJob", "train-t", "Succeeded")
        repo = pygit2.Repository(str(loop.remote.bare))

        def note() -> str:
            try:
                return repo.lookup_note(head, NOTES_REF).message
            except KeyError:
                return ""

        wait_for(lambda: note().startswith("reconciler: Ready"), what="the Ready note")
        loop.idle()
        notes_commits = len(list(repo.walk(repo.references[NOTES_REF].target)))
        loop.service.engine.trigger("resync")
        loop.idle()
        # A reconcile that changes nothing writes no note.
        assert len(list(repo.walk(repo.references[NOTES_REF].target))) == notes_commits
    clone = tmp_path / "clone"
    git("clone", "-q", str(loop.remote.bare), str(clone), cwd=tmp_path)
    git("fetch", "-q", "origin", f"{NOTES_REF}:{NOTES_REF}", cwd=clone)
    shown = git("log", "--notes=reconciler", "-1", head, cwd=clone)
    assert "Notes (reconciler):" in shown
    assert f"reconciler: Ready at {head[:7]}" in shown
    assert "specs changed: 2 (1 Ready, 1 Succeeded)" in shown
    assert "new runs:" in shown and "train-t-" in shown
