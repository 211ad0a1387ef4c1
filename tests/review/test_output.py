"""Output formats: golden markdown, byte-identical reruns, escaping, the JSON structure."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.review.conftest import spec

GOLDEN = Path(__file__).parent / "golden"

SCORER = spec(
    """
    apiVersion: mlops/v1alpha1
    kind: ModelDeployment
    metadata: {name: scorer}
    spec:
      model: {uri: "s3://models/scorer/v1/"}
      image: ghcr.io/acme/server:latest
      replicas: 1
      env:
        API_KEY:
          secretKeyRef: {name: scorer-api, key: key}
    """
)


def _multi_change(repo) -> None:
    """One commit doing a bit of everything a reviewer meets."""
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 4")
    repo.edit("models/fraud-detector.yaml", "accuracy: 0.9", "accuracy: 0.85")
    repo.edit("training/train-fraud.yaml", "lr: 0.01", "lr: 0.02")
    repo.remove("pipelines/churn.yaml")
    repo.write("models/scorer.yaml", SCORER)
    repo.commit("multi change")


def test_golden_markdown(repo, plan):
    _multi_change(repo)

    outcome = plan("--format", "markdown", "--exit-code")

    assert outcome.code == 1
    expected = (GOLDEN / "multi-change.md").read_text(encoding="utf-8")
    assert outcome.out == expected


def test_markdown_starts_with_the_summary_table(repo, plan):
    _multi_change(repo)

    out = plan("--format", "markdown").out

    table = out.index("| Spec | Kind | Change | What happens | Risk |")
    assert table < out.index("<details>")
    assert out.count("<details>") == out.count("</details>") == 4
    assert "```diff\n@@ apps/v1 Deployment ml-team/fraud-detector: update @@" in out


def test_every_format_is_identical_across_runs(repo, plan):
    _multi_change(repo)

    for fmt in ("text", "markdown", "json"):
        assert plan("--format", fmt).out == plan("--format", fmt).out, fmt


def test_markdown_escapes_what_specs_contain(repo, plan):
    repo.write(
        "models/scorer.yaml",
        SCORER.replace("s3://models/scorer/v1/", "s3://models/<img src=x>|`x`/"),
    )
    repo.commit()

    out = plan("--format", "markdown").out

    # Inside a fenced block it is code, shown as written; everywhere else it must not be HTML.
    outside = re.sub(r"(?ms)^(`{3,})diff$.*?^\1$", "", out)
    assert "<img" in out
    assert "<img" not in outside
    row = next(line for line in out.splitlines() if line.startswith("| `ml-team/scorer`"))
    assert "&lt;img src=x>\\|\\`x\\`/" in row
    assert row.count(" | ") == 4  # the pipe in the URI did not open a column


def test_markdown_fence_outgrows_backticks_in_values(repo, plan):
    repo.write("models/scorer.yaml", SCORER.replace("s3://models/scorer/v1/", "s3://m/```/"))
    repo.commit()

    out = plan("--format", "markdown").out

    assert "````diff\n" in out
    assert "\n````\n" in out


def test_markdown_leaves_diffs_out_when_too_long(repo, plan):
    _multi_change(repo)
    from reconciler.review.markdown import MAX_LENGTH

    full = plan("--format", "markdown").out
    assert len(full) < MAX_LENGTH
    for index in range(40):
        repo.write(f"models/many-{index}.yaml", SCORER.replace("name: scorer", f"name: s{index}"))
    repo.commit()

    out = plan("--format", "markdown").out

    assert len(out) <= MAX_LENGTH
    assert "Object diffs left out" in out
    assert "```diff" not in out


def test_json_structure(repo, plan):
    _multi_change(repo)

    document = json.loads(plan("--format", "json").out)

    assert set(document) == {
        "formatVersion",
        "base",
        "head",
        "cluster",
        "hasChanges",
        "summary",
        "errors",
        "clusterErrors",
        "specs",
    }
    assert document["formatVersion"] == 2
    assert document["cluster"] is False
    assert document["summary"] == {
        "added": 1,
        "changed": 2,
        "removed": 1,
        "drifted": 0,
        "invalid": 0,
        "unchanged": 0,
        "risks": 2,
        "errors": 0,
    }
    for item in document["specs"]:
        assert set(item) == {
            "kind",
            "namespace",
            "name",
            "file",
            "change",
            "happens",
            "risks",
            "fields",
            "objects",
        }
    names = [(s["namespace"], s["kind"], s["name"]) for s in document["specs"]]
    assert names == sorted(names, key=lambda n: (n[1], n[0], n[2]))


def test_text_is_concise(repo, plan):
    _multi_change(repo)

    out = plan().out

    assert out.splitlines()[1] == "1 added, 2 changed, 1 removed; 2 risks"
    assert "apiVersion" not in out  # created objects are named, not dumped
