"""The trial list: deterministic, prefix-stable, and each trial an ordinary run."""

from __future__ import annotations

import json

from reconciler import labels
from reconciler.render import RenderContext, render
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.models import TrainingJob
from reconciler.sweep.trials import plan_sweep
from tests.sweep.specs import sweep_spec


def _with_sweep(training: TrainingJob, **changes: object) -> TrainingJob:
    assert training.spec.sweep is not None
    data = training.model_dump(mode="json", by_alias=True)
    data["spec"]["sweep"].update(changes)
    return TrainingJob.model_validate(data)


def test_grid_walks_the_parameters_in_written_order_last_fastest() -> None:
    plan = plan_sweep(sweep_spec())
    assert [dict(t.parameters) for t in plan.trials] == [
        {"max_depth": 4, "eta": 0.1},
        {"max_depth": 4, "eta": 0.2},
        {"max_depth": 4, "eta": 0.3},
        {"max_depth": 8, "eta": 0.1},
        {"max_depth": 8, "eta": 0.2},
        {"max_depth": 8, "eta": 0.3},
    ]
    assert [t.index for t in plan.trials] == list(range(6))
    assert plan.exhaustive
    assert len({t.hash for t in plan.trials}) == 6
    assert all(t.name == f"tune-{t.hash}" for t in plan.trials)


def test_budget_and_parallelism_keep_the_sweep_and_its_trials() -> None:
    base = plan_sweep(sweep_spec(max_trials=6, parallelism=2))
    fewer = plan_sweep(sweep_spec(max_trials=3, parallelism=1))
    assert fewer.id == base.id
    assert [t.name for t in fewer.trials] == [t.name for t in base.trials[:3]]
    assert not fewer.exhaustive
    goal = plan_sweep(sweep_spec(objective="{metric: auc, direction: maximize, goal: 0.9}"))
    assert goal.id == base.id


def test_a_new_search_space_is_a_new_sweep_with_new_runs() -> None:
    base = sweep_spec()
    plan = plan_sweep(base)
    wider = plan_sweep(_with_sweep(base, parameters={"max_depth": [4, 8, 12]}))
    ranked = plan_sweep(sweep_spec(objective="{metric: loss, direction: minimize}"))
    assert len({plan.id, wider.id, ranked.id}) == 3
    assert not {t.name for t in wider.trials} & {t.name for t in plan.trials}


def test_random_trials_follow_from_the_seed_alone() -> None:
    space = {"lr": {"min": 1e-5, "max": 1e-2, "scale": "log"}, "depth": [3, 5, 7]}
    random = _with_sweep(sweep_spec(), algorithm="random", seed=7, parameters=space, maxTrials=5)
    first, again = plan_sweep(random), plan_sweep(random)
    assert first == again
    assert len(first.trials) == 5 and first.space is None and not first.exhaustive
    for trial in first.trials:
        assert 1e-5 <= trial.parameters["lr"] <= 1e-2
        assert trial.parameters["depth"] in (3, 5, 7)
    longer = plan_sweep(_with_sweep(random, maxTrials=8))
    assert longer.trials[:5] == first.trials
    other = plan_sweep(_with_sweep(random, seed=8))
    assert [t.parameters for t in other.trials] != [t.parameters for t in first.trials]


def test_random_over_a_small_space_runs_each_point_once() -> None:
    small = _with_sweep(
        sweep_spec(), algorithm="random", seed=1, parameters={"depth": [3, 5]}, maxTrials=10
    )
    plan = plan_sweep(small)
    assert sorted(t.parameters["depth"] for t in plan.trials) == [3, 5]
    assert plan.exhaustive


def test_each_trial_renders_as_a_run_with_its_values_and_its_sweep() -> None:
    training = sweep_spec()
    plan = plan_sweep(training)
    loaded = LoadedSpec(training, "train.yaml", 1, "blob")
    jobs = render(loaded, RenderContext("c" * 40, lambda s: None))
    assert [job["metadata"]["name"] for job in jobs] == [t.name for t in plan.trials]
    job, trial = jobs[4], plan.trials[4]
    meta = job["metadata"]
    assert meta["labels"][labels.RUN_HASH] == trial.hash
    assert meta["labels"][labels.SWEEP] == plan.id
    assert json.loads(meta["annotations"][labels.TRIAL]) == {
        "index": 4,
        "parameters": {"max_depth": 8, "eta": 0.2},
        "objective": {"metric": "auc", "direction": "maximize"},
    }
    assert meta["annotations"][labels.OUTPUT_URI] == f"s3://models/tune/{trial.name}/model.bin"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    # The trial's values are merged over spec.hyperparameters: eta is overridden.
    assert (env["HP_MAX_DEPTH"], env["HP_ETA"], env["HP_N_ESTIMATORS"]) == ("8", "0.2", "300")
    assert job["spec"]["template"]["metadata"]["labels"][labels.SWEEP] == plan.id
