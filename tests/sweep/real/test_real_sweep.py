"""A sweep on the real control plane: real Jobs through the real Job controller, each trial
reporting the metric its env asks the kwok Stage for (hack/kwok/stages/pod.yaml). Every trial
reports the same AUC there, so the goal ends the sweep after its first finished trial."""

from __future__ import annotations

import yaml

from reconciler.specs.models import TrainingJob
from reconciler.sweep.trials import plan_sweep
from tests.loop.harness import Loop
from tests.sweep.specs import sweep_yaml
from tests.sweep.watching import trial_jobs, watching_concurrency

MESSAGE = '{"auc": 0.9}'


def test_a_sweep_runs_its_trials_within_parallelism_until_the_goal(loop: Loop) -> None:
    text = sweep_yaml(
        namespace=loop.namespace,
        parallelism=2,
        objective="{metric: auc, direction: maximize, goal: 0.85}",
    )
    text = text.replace(
        "  command:", f"  env: {{KWOK_TERMINATION_MESSAGE: '{MESSAGE}'}}\n  command:"
    )
    names = [t.name for t in plan_sweep(TrainingJob.model_validate(yaml.safe_load(text))).trials]
    loop.commit({"training/tune.yaml": text})
    with watching_concurrency(loop.batch, loop.namespace) as seen:
        loop.start()
        status = loop.wait_phase("TrainingJob", "tune", "Succeeded", timeout=90)
    assert seen.most <= 2
    result = status["sweep"]
    assert result["ended"]["reason"] == "GoalReached"
    assert result["best"]["metrics"] == {"auc": 0.9}
    started = sorted(job.metadata.name for job in trial_jobs(loop.batch, loop.namespace))
    assert started == sorted(names[:2])  # the first two in grid order; none after the goal
    assert result["best"]["run"] in names[:2]
