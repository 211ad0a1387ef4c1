"""The status branch's README.md: a pure function of the statuses, readable at scale."""

from __future__ import annotations

import time

import pygit2

from reconciler.metrics import Metrics
from reconciler.phase import Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status import dashboard
from reconciler.status.book import StatusBook
from reconciler.status.model import Condition, RepositoryStatus, SpecStatus
from reconciler.status.writer import StatusWriter

SHA = "c567cbc8" + "0" * 32
WHEN = "2026-01-01T10:00:00Z"


def status(phase: Phase, message: str = "", **extra: object) -> SpecStatus:
    ready = "True" if phase in (Phase.READY, Phase.SUCCEEDED) else "False"
    return SpecStatus(
        SHA, phase, message, (Condition("Ready", ready, "R", message, WHEN),), (), extra
    )


def example() -> dict[SpecKey, SpecStatus]:
    run = {"name": "train-fraud-c567cbc8", "phase": "Succeeded", "metrics": {"accuracy": 0.94}}
    model = {
        "uri": "s3://models/fraud/model.joblib",
        "run": "train-fraud-c567cbc8",
        "runSourceCommit": SHA,
        "metrics": {"accuracy": 0.94},
        "gate": {"accuracy": 0.9},
    }
    steps = [
        {"name": "prepare", "phase": "Succeeded", "run": "churn-prepare-1"},
        {"name": "train", "phase": "Failed", "run": "churn-train-2", "dependsOn": ["prepare"]},
        {"name": "evaluate", "phase": "Blocked", "run": "churn-evaluate-3", "dependsOn": ["train"]},
    ]
    return {
        SpecKey("TrainingJob", "ml", "train-fraud"): status(Phase.SUCCEEDED, "done", runs=[run]),
        SpecKey("ModelDeployment", "ml", "fraud"): status(Phase.READY, "2/2", model=model),
        SpecKey("Pipeline", "ml", "churn"): status(Phase.FAILED, "step | train <b>", steps=steps),
        SpecKey("ModelDeployment", "apps", "web"): status(Phase.READY, "ok"),
    }


def test_dashboard_has_summary_table_graph_and_lineage():
    text = dashboard.render(example(), RepositoryStatus(SHA, Phase.READY)).decode()
    assert "**4 specs**: ❌ 1 Failed · 🟢 2 Ready · ✅ 1 Succeeded" in text
    # The namespace with a failure comes first, and the failing spec first within it.
    assert text.index("## ml") < text.index("## apps")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| ❌ | [churn](ml/pipeline/churn.yaml) | Pipeline | Failed |")
    assert "step \\| train &lt;b>" in rows[1] and "`c567cbc`" in rows[1]
    assert "2026-01-01 10:00:00Z" in rows[1]
    assert "```mermaid" in text and 's1["train<br/>Failed"]:::Failed' in text
    assert "s0 --> s1" in text and "s1 --> s2" in text
    lineage = next(line for line in text.splitlines() if "`train-fraud-c567cbc8`" in line)
    assert lineage.startswith("| `c567cbc` | [train-fraud](ml/trainingjob/train-fraud.yaml)")
    assert "accuracy 0.94 | accuracy ≥ 0.9 | `s3://models/fraud/model.joblib`" in lineage
    assert lineage.endswith("🟢 [fraud](ml/modeldeployment/fraud.yaml) |")


def test_dashboard_is_pure_and_folds_healthy_specs_of_a_big_namespace():
    statuses = {
        SpecKey("ModelDeployment", "big", f"m{i:04d}"): status(Phase.READY, "ok")
        for i in range(5000)
    }
    statuses[SpecKey("ModelDeployment", "big", "broken")] = status(Phase.FAILED, "bad image")
    started = time.process_time()
    first = dashboard.render(statuses)
    elapsed = time.process_time() - started
    assert first == dashboard.render(dict(reversed(statuses.items())))
    text = first.decode()
    assert text.count("[m") == 5000  # every spec is listed ...
    assert "<details><summary>5000 healthy specs</summary>" in text  # ... healthy ones folded
    assert text.index("[broken]") < text.index("<details>")
    assert elapsed < 1.0, f"rendering 5,001 rows took {elapsed:.2f} s of CPU"


def test_readme_is_written_with_a_status_change_and_only_then(tmp_path):
    remote = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    cache = pygit2.init_repository(str(tmp_path / "cache"), bare=True)
    # A clock that stands still: commits take no time, so pacing never holds one back.
    writer = StatusWriter(cache, str(tmp_path / "remote.git"))
    book = StatusBook(writer, Metrics(), lambda: True, lambda: 0.0)
    book.load()
    repository = RepositoryStatus(SHA, Phase.READY)
    key = SpecKey("ModelDeployment", "ml", "fraud")
    book.flush([book.record(key, status(Phase.PROGRESSING, "0/2"))], SHA, repository)
    tip = remote.references["refs/heads/status"].target
    readme = remote[tip].peel(pygit2.Tree)["README.md"]
    assert "🔄 1 Progressing" in remote[readme.id].data.decode()
    book.flush([], SHA, repository)
    assert remote.references["refs/heads/status"].target == tip
    book.flush([book.record(key, status(Phase.READY, "2/2"))], SHA, repository)
    new_tip = remote.references["refs/heads/status"].target
    readme = remote[new_tip].peel(pygit2.Tree)["README.md"]
    assert "🟢 1 Ready" in remote[readme.id].data.decode()
    diff = remote.diff(remote[tip], remote[new_tip])
    assert {p.delta.new_file.path for p in diff} == {"README.md", "ml/modeldeployment/fraud.yaml"}
