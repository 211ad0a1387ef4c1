"""Runs, metrics, gated promotion, history and pipeline progress: pure, table-driven."""

from __future__ import annotations

import json

import pytest

from reconciler import labels
from reconciler.lifecycle import (
    Run,
    choose_model,
    gate_failures,
    parse_metrics,
    pipeline_progress,
    pod_essentials,
    runs_from,
    runs_to_keep,
)


def job(name: str, run_hash: str, created: str, condition: str | None, **annotations: str) -> dict:
    status: dict = {}
    if condition == "Complete":
        status = {
            "succeeded": 1,
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": created,
            "conditions": [{"type": "Complete", "status": "True"}],
        }
    elif condition == "Failed":
        status = {
            "failed": 1,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
        }
    elif condition == "Running":
        status = {"active": 1, "startTime": created}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "creationTimestamp": created,
            "labels": {labels.RUN_HASH: run_hash, labels.SPEC_NAME: "train"},
            "annotations": {labels.SOURCE_COMMIT: "c" * 40, **annotations},
        },
        "status": status,
    }


def pod(run_hash: str, message: str, finished: str = "2026-01-01T00:10:00Z") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {labels.RUN_HASH: run_hash, labels.SPEC_NAME: "train"}},
        "status": {
            "containerStatuses": [
                {"state": {"terminated": {"message": message, "finishedAt": finished}}}
            ]
        },
    }


@pytest.mark.parametrize(
    ("message", "metrics", "note"),
    [
        ('{"accuracy": 0.93, "loss": 0.2}', {"accuracy": 0.93, "loss": 0.2}, None),
        ("", None, None),
        ("not json at all", None, "termination message is not JSON; expected an object of numbers"),
        ("[1, 2]", None, "termination message is not a JSON object of numbers"),
        (
            '{"accuracy": 0.9, "model": "x"}',
            {"accuracy": 0.9},
            "non-numeric metrics ignored: model",
        ),
        ('{"ok": true}', None, "non-numeric metrics ignored: ok"),
        (
            "{" + '"a": 1,' * 1000 + '"b": 2}',
            None,
            "termination message ignored: longer than 4096 bytes",
        ),
        ('{"nan": NaN}', None, "non-numeric metrics ignored: nan"),
    ],
)
def test_parse_metrics(message, metrics, note):
    assert parse_metrics(message) == (metrics, note)


def test_runs_are_newest_first_with_metrics_from_their_pods():
    objects = [
        job(
            "train-aaaa1111",
            "aaaa1111",
            "2026-01-01T00:00:00Z",
            "Complete",
            **{labels.OUTPUT_URI: "s3://m/a"},
        ),
        job("train-bbbb2222", "bbbb2222", "2026-01-02T00:00:00Z", "Running"),
    ]
    runs = runs_from(objects, [pod("aaaa1111", '{"accuracy": 0.91}')])
    assert [r.name for r in runs] == ["train-bbbb2222", "train-aaaa1111"]
    assert runs[1].phase == "Succeeded"
    assert runs[1].metrics == {"accuracy": 0.91}
    assert runs[1].output_uri == "s3://m/a"
    assert runs[0].phase == "Progressing"
    assert runs[0].metrics is None


def test_garbage_termination_message_becomes_a_note_not_a_crash():
    objects = [job("train-aaaa1111", "aaaa1111", "2026-01-01T00:00:00Z", "Complete")]
    (run,) = runs_from(objects, [pod("aaaa1111", "\x00garbage{")])
    assert run.phase == "Succeeded"
    assert run.metrics is None
    assert run.metrics_note == "termination message is not JSON; expected an object of numbers"


def run(name: str, phase: str, metrics: dict | None = None, uri: str | None = "s3://m") -> Run:
    return Run(name, name[-8:], phase, "reason", uri, "c" * 40, name, metrics=metrics)


@pytest.mark.parametrize(
    ("metrics", "gate", "failures"),
    [
        ({"accuracy": 0.95}, {"accuracy": 0.9}, []),
        ({"accuracy": 0.9}, {"accuracy": 0.9}, []),
        ({"accuracy": 0.87}, {"accuracy": 0.9}, ["accuracy 0.87 < 0.9"]),
        ({}, {"accuracy": 0.9}, ["accuracy missing (needs >= 0.9)"]),
        (None, None, []),
        ({"accuracy": 0.95, "auc": 0.7}, {"accuracy": 0.9, "auc": 0.8}, ["auc 0.7 < 0.8"]),
    ],
)
def test_gate(metrics, gate, failures):
    assert gate_failures(run("train-x", "Succeeded", metrics), gate) == failures


def test_newer_run_failing_the_gate_keeps_serving_the_previous_model():
    runs = [
        run("train-new", "Succeeded", {"accuracy": 0.87}, "s3://new"),
        run("train-old", "Succeeded", {"accuracy": 0.93}, "s3://old"),
    ]
    promotion = choose_model(runs, {"accuracy": 0.9}, "TrainingJob train")
    assert promotion.uri == "s3://old"
    assert promotion.rejected == (("train-new", "gate not met: accuracy 0.87 < 0.9"),)


def test_failed_and_running_runs_are_never_promoted():
    runs = [run("train-c", "Progressing"), run("train-b", "Failed"), run("train-a", "Succeeded")]
    promotion = choose_model(runs, None, "TrainingJob train")
    assert promotion.run is not None and promotion.run.name == "train-a"
    assert promotion.rejected == (("train-b", "run failed: reason"),)


def test_nothing_promotable_says_why():
    promotion = choose_model(
        [run("train-a", "Succeeded", {"accuracy": 0.5})], {"accuracy": 0.9}, "TrainingJob train"
    )
    assert promotion.uri is None
    assert promotion.reason == (
        "no run of TrainingJob train can be promoted yet; newest train-a: "
        "gate not met: accuracy 0.5 < 0.9"
    )
    assert (
        choose_model([], None, "TrainingJob t").reason
        == "waiting for a succeeded run of TrainingJob t"
    )


def test_history_keeps_unfinished_newest_finished_and_pinned_runs():
    runs = [
        run("r5", "Progressing"),
        run("r4", "Succeeded"),
        run("r3", "Failed"),
        run("r2", "Succeeded"),
        run("r1", "Succeeded"),
    ]
    assert runs_to_keep(runs, 2) == {"r5", "r4", "r3"}
    assert runs_to_keep(runs, 2, pinned={"r1"}) == {"r5", "r4", "r3", "r1"}


ORDER = [("prepare", []), ("train", ["prepare"]), ("evaluate", ["train"])]
NAMES = {"prepare": "p-prepare-1", "train": "p-train-2", "evaluate": "p-evaluate-3"}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ({}, [("Pending", True), ("Pending", False), ("Pending", False)]),
        (
            {"p-prepare-1": "Progressing"},
            [("Progressing", False), ("Pending", False), ("Pending", False)],
        ),
        (
            {"p-prepare-1": "Succeeded"},
            [("Succeeded", False), ("Pending", True), ("Pending", False)],
        ),
        ({"p-prepare-1": "Failed"}, [("Failed", False), ("Blocked", False), ("Blocked", False)]),
        (
            {"p-prepare-1": "Succeeded", "p-train-2": "Succeeded", "p-evaluate-3": "Succeeded"},
            [("Succeeded", False)] * 3,
        ),
    ],
)
def test_pipeline_steps_start_only_after_their_upstreams_succeed(existing, expected):
    runs = {name: run(name, phase) for name, phase in existing.items()}
    progress = pipeline_progress(ORDER, NAMES, runs)
    assert [(p.phase, p.startable) for p in progress] == expected


def test_step_outputs_come_from_the_run_annotation():
    obj = job(
        "p-train-2",
        "2",
        "2026-01-01T00:00:00Z",
        "Complete",
        **{labels.OUTPUTS: json.dumps({"model": "s3://m/p-train-2"})},
    )
    obj["metadata"]["labels"][labels.PIPELINE_STEP] = "train"
    (found,) = runs_from([obj], [])
    assert found.step == "train"
    assert found.outputs == {"model": "s3://m/p-train-2"}


def test_a_run_whose_pod_is_not_seen_yet_waits_for_its_metrics():
    # The Job and its pod arrive on separate watches: a finished Job may come first.
    objects = [
        job(
            "train-aaaa1111",
            "aaaa1111",
            "2026-01-01T00:00:00Z",
            "Complete",
            **{labels.OUTPUT_URI: "s3://m/a"},
        )
    ]
    (unread,) = runs_from(objects, [])
    assert not unread.metrics_read
    promotion = choose_model([unread], {"accuracy": 0.9}, "TrainingJob train")
    assert promotion.rejected == (("train-aaaa1111", "waiting for its metrics"),)
    (read,) = runs_from(objects, [pod("aaaa1111", '{"accuracy": 0.95}')])
    assert choose_model([read], {"accuracy": 0.9}, "TrainingJob train").uri == "s3://m/a"


def test_pod_essentials_keep_what_runs_need():
    full = pod("aaaa1111", '{"accuracy": 0.9}')
    full["spec"] = {"containers": [{"name": "train", "image": "x"}]}
    full["metadata"].update(name="p", namespace="ml", resourceVersion="7", uid="u")
    trimmed = pod_essentials(full)
    assert "spec" not in trimmed and "uid" not in trimmed["metadata"]
    objects = [job("train-aaaa1111", "aaaa1111", "2026-01-01T00:00:00Z", "Complete")]
    assert runs_from(objects, [trimmed]) == runs_from(objects, [full])
