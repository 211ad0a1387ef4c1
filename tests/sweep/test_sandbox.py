"""Sweeps end to end on the sandbox, through a real bare Git remote: each trial's metrics are
set by scenario rules keyed by the trial's run name, which follows from the spec."""

from __future__ import annotations

import json

import pytest
import yaml

from reconciler import labels
from reconciler.specs.models import TrainingJob
from reconciler.sweep.trials import plan_sweep
from tests.loop.harness import Document, Loop
from tests.sweep.specs import sweep_yaml
from tests.sweep.watching import trial_jobs, watching_concurrency
from tests.waiting import wait_for

pytestmark = pytest.mark.sandbox_only("sets each trial's metrics with scenario rules")

AUC = [0.70, 0.80, 0.75, 0.92, 0.85, 0.60]  # trial 3 (max_depth 8, eta 0.1) is the best


def sweep(loop: Loop, **fields: object) -> tuple[str, list[str]]:
    """The sweep's YAML in the loop's namespace and its trial run names, in order."""
    text = sweep_yaml(namespace=loop.namespace, **fields)  # type: ignore[arg-type]
    return text, trial_names(text)


def trial_names(text: str) -> list[str]:
    plan = plan_sweep(TrainingJob.model_validate(yaml.safe_load(text)))
    return [trial.name for trial in plan.trials]


def report(loop: Loop, names: list[str], *durations: float) -> None:
    """Each trial reports its AUC after running ``durations[i]`` seconds (default 0.2)."""
    rules = [
        {
            "match": name,
            "duration": durations[i] if i < len(durations) else 0.2,
            "message": json.dumps({"auc": auc}),
        }
        for i, (name, auc) in enumerate(zip(names, AUC, strict=False))
    ]
    loop.sandbox.set_rules({"jobs": rules})


def serve(gate: float) -> Document:
    spec = {
        "model": {"fromTraining": {"name": "tune"}},
        "image": "ghcr.io/acme/server:1.0",
        "replicas": 1,
        "promotion": {"metrics": {"auc": gate}},
    }
    return Document("ModelDeployment", "scorer", spec)


def test_grid_runs_in_order_within_parallelism_and_the_best_trial_serves(loop: Loop) -> None:
    text, names = sweep(loop, parallelism=2)
    report(loop, names)
    loop.commit({"training/tune.yaml": text, "models/scorer.yaml": serve(0.8)})
    with watching_concurrency(loop.batch, loop.namespace) as seen:
        loop.start()
        status = loop.wait_phase("TrainingJob", "tune", "Succeeded", timeout=30)
    assert seen.most == 2 and seen.polls > 10
    order = [names.index(job.metadata.name) for job in trial_jobs(loop.batch, loop.namespace)]
    assert sorted(order) == list(range(6))
    # Trials start in grid order; those one reconcile starts together are applied by name.
    assert all(index < position + 2 for position, index in enumerate(order)), order
    result = status["sweep"]
    assert [t["phase"] for t in result["trials"]] == ["Succeeded"] * 6
    assert [t["metrics"]["auc"] for t in result["trials"]] == AUC
    assert result["best"]["run"] == names[3]
    assert result["best"]["parameters"] == {"max_depth": 8, "eta": 0.1}
    assert result["ended"]["reason"] == "AllDone"
    served = wait_for(
        lambda: (s := loop.status("ModelDeployment", "scorer")) and s["model"].get("run") and s,
        what="a promoted model",
    )
    served = loop.wait_phase("ModelDeployment", "scorer", "Ready")
    assert served["model"]["run"] == names[3]  # the best, not the newest (trial 5)
    assert served["model"]["uri"] == f"s3://models/tune/{names[3]}/model.bin"
    assert served["model"]["trial"] == {
        "sweep": result["id"],
        "index": 3,
        "parameters": {"max_depth": 8, "eta": 0.1},
    }


def test_reaching_the_goal_ends_the_sweep_early(loop: Loop) -> None:
    text, names = sweep(
        loop, parallelism=2, objective="{metric: auc, direction: maximize, goal: 0.8}"
    )
    # Trial 1 reaches the goal while trial 0 still runs: its slot must not start trial 2.
    report(loop, names, 0.8, 0.1)
    loop.commit({"training/tune.yaml": text})
    loop.start()
    status = loop.wait_phase("TrainingJob", "tune", "Succeeded", timeout=30)
    result = status["sweep"]
    assert result["ended"]["reason"] == "GoalReached"
    assert result["best"]["trial"] == 1
    assert [t["phase"] for t in result["trials"]][2:] == ["Skipped"] * 4
    loop.idle()
    started = [job.metadata.name for job in trial_jobs(loop.batch, loop.namespace)]
    assert sorted(started) == sorted(names[:2])


def test_a_restart_mid_sweep_resumes_without_running_a_trial_twice(loop: Loop) -> None:
    text, names = sweep(loop, parallelism=1)
    report(loop, names, *[0.3] * 6)
    loop.commit({"training/tune.yaml": text})
    with watching_concurrency(loop.batch, loop.namespace) as seen:
        loop.start()
        wait_for(lambda: len(trial_jobs(loop.batch, loop.namespace)) >= 2, what="two trials")
        loop.stop()
        loop.start()
        status = loop.wait_phase("TrainingJob", "tune", "Succeeded", timeout=30)
    assert seen.most == 1
    assert [job.metadata.name for job in trial_jobs(loop.batch, loop.namespace)] == names
    assert status["sweep"]["best"]["trial"] == 3


def test_budget_changes_keep_the_trials_and_a_new_space_keeps_the_old_sweep(loop: Loop) -> None:
    text, names = sweep(loop, max_trials=2, parallelism=2)
    report(loop, names)
    loop.commit({"training/tune.yaml": text})
    loop.start()
    first = loop.wait_phase("TrainingJob", "tune", "Succeeded")["sweep"]
    assert first["ended"]["reason"] == "Budget"
    text, more = sweep(loop, max_trials=4, parallelism=2)
    assert more[:2] == names[:2]
    loop.commit({"training/tune.yaml": text})
    status = wait_for(
        lambda: (
            (s := loop.status("TrainingJob", "tune"))
            and s["phase"] == "Succeeded"
            and len([t for t in s["sweep"]["trials"] if t["phase"] == "Succeeded"]) == 4
            and s
        ),
        what="the two added trials",
    )
    assert status["sweep"]["id"] == first["id"]
    assert len(trial_jobs(loop.batch, loop.namespace)) == 4
    wider = text.replace("max_depth: [4, 8]", "max_depth: [4, 8, 12]")
    report(loop, trial_names(wider))
    loop.commit({"training/tune.yaml": wider})
    status = wait_for(
        lambda: (
            (s := loop.status("TrainingJob", "tune"))
            and s["sweep"]["id"] != first["id"]
            and s["phase"] == "Succeeded"
            and s
        ),
        what="the new sweep",
    )
    jobs = trial_jobs(loop.batch, loop.namespace)
    sweeps = {job.metadata.labels[labels.SWEEP] for job in jobs}
    assert sweeps == {first["id"], status["sweep"]["id"]}
    assert {job.metadata.name for job in jobs} >= set(more)  # the old sweep stays as history
