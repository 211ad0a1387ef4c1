"""Sweep specs for the tests of this folder, as YAML text and as models."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.specs.models import TrainingJob

SWEEP = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata:
  name: {name}
  namespace: {namespace}
spec:
  image: train:1
  command: [python, train.py]
  hyperparameters: {{n_estimators: 300, eta: 0.5}}
  output: {{uri: "s3://models/{name}/{{run}}/model.bin"}}
  resources: {{gpu: {gpu}}}
  sweep:
    algorithm: grid
    parameters:
      max_depth: [4, 8]
      eta: {{min: 0.1, max: 0.3, step: 0.1}}
    maxTrials: {max_trials}
    parallelism: {parallelism}
    objective: {objective}
"""


def sweep_yaml(
    *,
    name: str = "tune",
    namespace: str = "ml",
    gpu: int = 0,
    max_trials: int = 6,
    parallelism: int = 2,
    objective: str = "{metric: auc, direction: maximize}",
) -> str:
    """A grid sweep of 6 trials: max_depth 4 then 8, each with eta 0.1, 0.2, 0.3."""
    return SWEEP.format(
        name=name,
        namespace=namespace,
        gpu=gpu,
        max_trials=max_trials,
        parallelism=parallelism,
        objective=objective,
    )


def sweep_spec(**fields: Any) -> TrainingJob:
    return TrainingJob.model_validate(yaml.safe_load(sweep_yaml(**fields)))
