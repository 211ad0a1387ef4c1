"""Run and step hashes change exactly when what defines a run changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.render import render, run_hash, run_name, spec_hash, step_hashes
from reconciler.specs.models import SPEC_ADAPTER, Pipeline, TrainingJob
from tests.render.support import context, loaded, model_deployment, pipeline, training_job

BASE_TRAINING = training_job(
    hyperparameters={"lr": 0.01, "epochs": 3},
    env={"MODE": "full"},
    resources={"cpu": "2", "memory": "4Gi"},
    output={"uri": "s3://out/{run}/"},
    runTrigger="1",
)
BASE_TRAINING["metadata"]["namespace"] = "ml-team"


def _training(edit: Any = None) -> TrainingJob:
    doc = copy.deepcopy(BASE_TRAINING)
    if edit:
        edit(doc)
    spec = SPEC_ADAPTER.validate_python(doc)
    assert isinstance(spec, TrainingJob)
    return spec


def _pipeline(edit: Any = None) -> Pipeline:
    doc = pipeline()
    doc["metadata"]["namespace"] = "ml-team"
    if edit:
        edit(doc)
    spec = SPEC_ADAPTER.validate_python(doc)
    assert isinstance(spec, Pipeline)
    return spec


def _set(*path: str, value: Any) -> Any:
    def edit(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return edit


def test_hash_shapes() -> None:
    training = _training()
    assert len(spec_hash(training)) == 16
    assert len(run_hash(training)) == 8
    assert int(run_hash(training), 16) >= 0
    assert run_name("train", "0123abcd") == "train-0123abcd"


@pytest.mark.parametrize(
    "edit",
    [
        _set("metadata", "labels", value={"team": "other"}),
        _set("spec", "historyLimit", value=9),
        _set("spec", "hyperparameters", value={"epochs": 3, "lr": 0.01}),  # same map, other order
    ],
    ids=["labels", "historyLimit", "key-order"],
)
def test_run_hash_ignores_bookkeeping(edit: Any) -> None:
    assert run_hash(_training(edit)) == run_hash(_training())


@pytest.mark.parametrize(
    "edit",
    [
        _set("spec", "hyperparameters", "lr", value=0.02),
        _set("spec", "runTrigger", value="2"),
        _set("spec", "image", value="ghcr.io/acme/train:1.0.1"),
        _set("spec", "args", value=["--fast"]),
        _set("spec", "env", "MODE", value="quick"),
        _set("spec", "resources", "gpu", value=1),
        _set("spec", "timeout", value="1h"),
        _set("spec", "backoffLimit", value=1),
        _set("spec", "output", "uri", value="s3://elsewhere/{run}/"),
        _set("metadata", "namespace", value="ml-staging"),
    ],
    ids=[
        "hyperparameter",
        "runTrigger",
        "image",
        "args",
        "env",
        "gpu",
        "timeout",
        "backoffLimit",
        "output",
        "namespace",
    ],
)
def test_run_hash_follows_the_definition(edit: Any) -> None:
    assert run_hash(_training(edit)) != run_hash(_training())


@pytest.mark.parametrize("replicas", [1, 5])
def test_run_name_ignores_other_specs(replicas: int) -> None:
    train = loaded(copy.deepcopy(BASE_TRAINING))
    server = loaded(model_deployment(image="ghcr.io/acme/srv:1", replicas=replicas))
    [job] = render(train, context(train, server))
    assert job["metadata"]["name"] == run_name("train", run_hash(_training()))


def test_spec_hash_covers_everything() -> None:
    assert spec_hash(_training(_set("spec", "historyLimit", value=9))) != spec_hash(_training())


def _edit_step(step: int, key: str, value: Any) -> Any:
    def edit(doc: dict) -> None:
        doc["spec"]["steps"][step][key] = value

    return edit


def test_step_hash_flows_downstream_only() -> None:
    base = step_hashes(_pipeline())
    assert list(base) == ["prepare", "train", "evaluate"]
    assert len(set(base.values())) == 3

    upstream_changed = step_hashes(_pipeline(_edit_step(0, "args", ["--sample=0.1"])))
    assert all(upstream_changed[name] != base[name] for name in base)

    middle_changed = step_hashes(_pipeline(_edit_step(1, "image", "ghcr.io/acme/p:2")))
    assert middle_changed["prepare"] == base["prepare"]
    assert middle_changed["train"] != base["train"]
    assert middle_changed["evaluate"] != base["evaluate"]

    downstream_changed = step_hashes(_pipeline(_edit_step(2, "args", ["--plots"])))
    assert downstream_changed["prepare"] == base["prepare"]
    assert downstream_changed["train"] == base["train"]
    assert downstream_changed["evaluate"] != base["evaluate"]


def test_step_hash_follows_run_trigger_not_history_limit() -> None:
    base = step_hashes(_pipeline())
    triggered = step_hashes(_pipeline(_set("spec", "runTrigger", value="again")))
    assert all(triggered[name] != base[name] for name in base)
    kept = step_hashes(_pipeline(_set("spec", "historyLimit", value=7)))
    assert kept == base
    relabelled = step_hashes(_pipeline(_set("metadata", "labels", value={"team": "x"})))
    assert relabelled == base
