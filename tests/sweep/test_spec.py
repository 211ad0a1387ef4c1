"""``spec.sweep``: every field validated where it is written, and the GPU limit per spec."""

from __future__ import annotations

import pytest

from reconciler.specs.loader import load_directory
from reconciler.specs.models.sweep import Range, range_points
from tests.specs.conftest import Writer
from tests.sweep.specs import sweep_yaml

HEAD = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata: {name: tune}
spec:
  image: train:1
  hyperparameters: {learning_rate: 0.1}
  sweep:
"""


@pytest.mark.parametrize(
    ("sweep", "line", "field", "message"),
    [
        (
            "    algorithm: grid\n    parameters: {depth: [4, 4]}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            9,
            "spec.sweep.parameters.depth",
            "value 4 is listed twice",
        ),
        (
            "    algorithm: grid\n    parameters:\n      eta: {min: 0.3, max: 0.1, step: 0.1}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            10,
            "spec.sweep.parameters.eta",
            "max 0.1 must be greater than min 0.3",
        ),
        (
            "    algorithm: grid\n    parameters:\n      lr: {min: 1e-5, max: 1e-2}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            10,
            "spec.sweep.parameters.lr",
            "a grid parameter needs step or count",
        ),
        (
            "    algorithm: grid\n    parameters:\n      lr: {min: 1e-5, max: 1e-2, step: 1e-3, "
            "scale: log}\n    objective: {metric: auc, direction: maximize}\n",
            10,
            "spec.sweep.parameters.lr",
            "a log range takes count, not step",
        ),
        (
            "    algorithm: random\n    maxTrials: 4\n    parameters: {depth: [4, 8]}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            7,
            "spec.sweep",
            "a random sweep needs a seed",
        ),
        (
            "    algorithm: grid\n    seed: 3\n    parameters: {depth: [4, 8]}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            9,
            "spec.sweep.seed",
            "seed applies to random sweeps only",
        ),
        (
            "    algorithm: grid\n    parameters: {depth: [4, 8]}\n"
            "    objective: {metric: auc, direction: up}\n",
            10,
            "spec.sweep.objective.direction",
            "'maximize' or 'minimize'",
        ),
        (
            "    algorithm: grid\n    parameters: {learning-rate: [1, 2]}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            9,
            "spec.sweep.parameters",
            "both become HP_LEARNING_RATE",
        ),
        (
            "    algorithm: grid\n    parameters: {depth: 4}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            9,
            "spec.sweep.parameters.depth",
            "must be a list of values or a range",
        ),
        (
            "    algorithm: grid\n    parameters: {depth: [4]}\n    earlyStopping: {}\n"
            "    objective: {metric: auc, direction: maximize}\n",
            10,
            "spec.sweep",
            "unknown field 'earlyStopping'",
        ),
    ],
)
def test_sweep_errors_name_file_line_and_field(
    write_repo: Writer, sweep: str, line: int, field: str, message: str
) -> None:
    result = load_directory(write_repo({"train.yaml": HEAD + sweep}))
    (problem,) = result.problems
    assert (problem.file, problem.line, problem.field) == ("train.yaml", line, field)
    assert message in problem.message


def test_a_sweep_over_the_gpu_limit_is_refused_before_anything_runs(write_repo: Writer) -> None:
    files = {
        "reconciler.yaml": "maxGpusPerSpec: 4\n",
        "fits.yaml": sweep_yaml(name="fits", gpu=2, parallelism=2),
        "over.yaml": sweep_yaml(name="over", gpu=2, parallelism=3),
    }
    result = load_directory(write_repo(files))
    assert [spec.key.name for spec in result.specs] == ["fits"]
    (problem,) = result.problems
    assert (problem.file, problem.line, problem.field) == (
        "over.yaml",
        18,
        "spec.sweep.parallelism",
    )
    assert "3 trials at once x 1 worker x 2 GPUs = 6 exceeds maxGpusPerSpec 4" in problem.message


@pytest.mark.parametrize(
    ("space", "points"),
    [
        ({"min": 0.05, "max": 0.3, "step": 0.05}, [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]),
        ({"min": 2, "max": 10, "step": 4}, [2, 6, 10]),
        ({"min": 0, "max": 1, "count": 3}, [0.0, 0.5, 1.0]),
        ({"min": "1e-5", "max": "1e-2", "count": 4, "scale": "log"}, [1e-5, 1e-4, 1e-3, 1e-2]),
    ],
)
def test_range_points_are_exact_decimals(space: dict, points: list) -> None:
    found = range_points(Range.model_validate(space))
    assert found == points
    assert [type(x) for x in found] == [type(x) for x in points]
