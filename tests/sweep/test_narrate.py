"""What `reconciler plan` says a sweep change will do."""

from __future__ import annotations

from reconciler.review.compare import compare, render_side
from reconciler.review.model import Revision
from reconciler.specs.loaded import LoadedSpec, LoadResult
from reconciler.specs.models import RepoConfig, TrainingJob
from reconciler.sweep.narrate import sweep_story
from reconciler.sweep.trials import sweep_id
from tests.sweep.specs import sweep_spec


def test_a_new_sweep_says_its_size_parallelism_and_gpus() -> None:
    assert sweep_story(None, sweep_spec(gpu=4, parallelism=3)) == [
        "grid sweep of 6 trials, 3 at once, 4 GPUs each; starts trials 0, 1, 2"
    ]


def test_a_bigger_budget_keeps_the_trials_already_run() -> None:
    base, head = sweep_spec(max_trials=3, gpu=4), sweep_spec(max_trials=6, gpu=4, parallelism=3)
    assert sweep_story(base, head) == [
        "grid sweep of 6 trials, 3 at once, 4 GPUs each; 3 already run and kept, 3 more to run"
    ]


def test_a_new_search_space_keeps_the_old_sweep_as_history() -> None:
    base = sweep_spec()
    head = sweep_spec(objective="{metric: logloss, direction: minimize}")
    (line,) = sweep_story(base, head)
    assert line.startswith("new sweep ")
    assert line.endswith(
        f"grid sweep of 6 trials, 2 at once; the 6 trials of sweep {sweep_id(base)} stay as history"
    )


def test_the_plan_tells_the_sweep_story_instead_of_every_trial_job() -> None:
    base, head = sweep_spec(max_trials=2), sweep_spec(max_trials=4)
    review = compare(_side(base, "base"), _side(head, "head"))
    (spec,) = review.specs
    assert spec.happens == (
        "grid sweep of 4 trials, 2 at once; 2 already run and kept, 2 more to run",
        "sweep.maxTrials 2 -> 4",
    )


def _side(training: TrainingJob, name: str):
    loaded = LoadedSpec(training, "train.yaml", 1, name)
    return render_side(Revision(name, "a" * 40), LoadResult(RepoConfig(), (loaded,)))
