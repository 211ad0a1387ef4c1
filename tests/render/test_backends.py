"""What each backend renders, field by field, for the cases that matter."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.render import render, render_step, run_hash, spec_hash, step_hashes
from reconciler.render.common import split_replicas
from tests.render.support import COMMIT, context, loaded, model_deployment, pipeline, training_job

SECRET = {"secretKeyRef": {"name": "creds", "key": "token"}}
CANARY = {"model": {"uri": "s3://models/m/2/"}, "trafficPercent": 20}
SRV = "ghcr.io/acme/srv:1"


def _render(doc: dict[str, Any], *others: dict[str, Any]) -> list[dict[str, Any]]:
    spec = loaded(doc, file="models/spec.yaml")
    return render(spec, context(spec, *(loaded(other) for other in others)))


def _by_kind_name(manifests: list[dict]) -> dict[str, dict]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in manifests}


def dig(node: Any, *path: str | int) -> Any:
    for key in path:
        node = node[key]
    return node


def _env(container: dict) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


# ---------------------------------------------------------------- shared metadata


def test_every_object_carries_identity() -> None:
    doc = model_deployment(image=SRV, replicas=2, canary=CANARY)
    doc["metadata"]["labels"] = {"team": "risk"}
    expected_hash = spec_hash(loaded(doc).spec)
    for manifest in _render(doc):
        meta = manifest["metadata"]
        assert meta["namespace"] == "ml-team"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "reconciler"
        assert meta["labels"]["mlops/spec-kind"] == "ModelDeployment"
        assert meta["labels"]["mlops/spec-name"] == "server"
        assert meta["labels"]["team"] == "risk"
        assert meta["annotations"]["mlops/spec-hash"] == expected_hash
        assert meta["annotations"]["mlops/source-commit"] == COMMIT
        assert meta["annotations"]["mlops/source-path"] == "models/spec.yaml"
        assert meta["annotations"]["mlops/model-uri"] == "s3://models/m/1/"


def test_source_commit_alone_never_touches_pod_templates() -> None:
    spec = loaded(model_deployment(image=SRV, replicas=2))
    first = render(spec, context(spec))
    second = render(spec, dataclasses.replace(context(spec), source_commit="f" * 40))
    for a, b in zip(first, second, strict=True):
        assert a["spec"] == b["spec"]
        assert a["metadata"]["annotations"] != b["metadata"]["annotations"]


# ---------------------------------------------------------------- runtime deployment


def test_deployment_service_and_env() -> None:
    doc = model_deployment(
        image=SRV,
        replicas=3,
        port=9000,
        env={"TOKEN": SECRET, "LEVEL": {"configMapKeyRef": {"name": "cfg", "key": "lvl"}}},
        resources={"cpu": "0.5", "memory": "512Mi", "gpu": 2},
    )
    objects = _by_kind_name(_render(doc))
    assert sorted(objects) == ["Deployment/server", "Service/server"]
    deployment, service = objects["Deployment/server"], objects["Service/server"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"]["mlops/role"] == "stable"
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["mlops/spec-name"] == "server"
    assert "annotations" not in pod["metadata"]
    [container] = pod["spec"]["containers"]
    assert container["image"] == SRV
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert _env(container) == {
        "MODEL_URI": "s3://models/m/1/",
        "TOKEN": SECRET,
        "LEVEL": {"configMapKeyRef": {"name": "cfg", "key": "lvl"}},
    }
    assert container["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {
        "mlops/spec-kind": "ModelDeployment",
        "mlops/spec-name": "server",
    }
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9000, "protocol": "TCP"}
    ]


def test_deployment_autoscaling_leaves_replicas_to_the_hpa() -> None:
    doc = model_deployment(
        image=SRV,
        autoscaling={"minReplicas": 2, "maxReplicas": 8, "target_cpu_utilization_percentage": 60},
    )
    objects = _by_kind_name(_render(doc))
    assert "replicas" not in objects["Deployment/server"]["spec"]
    hpa = objects["HorizontalPodAutoscaler/server"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "server",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert dig(hpa, "metrics", 0, "resource", "target", "averageUtilization") == 60


@pytest.mark.parametrize(
    ("replicas", "percent", "stable", "canary"),
    [(10, 20, 8, 2), (4, 10, 3, 1), (2, 50, 1, 1), (1, 10, 1, 1), (3, 100, 0, 3), (5, 0, 5, 0)],
)
def test_deployment_canary_split(replicas: int, percent: int, stable: int, canary: int) -> None:
    doc = model_deployment(
        image=SRV, replicas=replicas, canary={**CANARY, "trafficPercent": percent}
    )
    objects = _by_kind_name(_render(doc))
    assert objects["Deployment/server"]["spec"]["replicas"] == stable
    canary_deployment = objects["Deployment/server-canary"]
    assert canary_deployment["spec"]["replicas"] == canary
    assert canary_deployment["spec"]["selector"]["matchLabels"]["mlops/role"] == "canary"
    [container] = canary_deployment["spec"]["template"]["spec"]["containers"]
    assert _env(container)["MODEL_URI"] == "s3://models/m/2/"
    assert canary_deployment["metadata"]["annotations"]["mlops/canary-model-uri"] == (
        "s3://models/m/2/"
    )
    assert "mlops/role" not in objects["Service/server"]["spec"]["selector"]


@pytest.mark.parametrize(
    ("total", "percent", "expected"),
    [(0, 50, (0, 0)), (10, 0, (10, 0)), (10, 100, (0, 10)), (10, 15, (8, 2)), (10, 95, (1, 10))],
)
def test_split_replicas(total: int, percent: int, expected: tuple[int, int]) -> None:
    assert split_replicas(total, percent) == expected


def test_deployment_canary_with_autoscaling() -> None:
    doc = model_deployment(
        image=SRV, autoscaling={"minReplicas": 4, "maxReplicas": 10}, canary=CANARY
    )
    objects = _by_kind_name(_render(doc))
    assert objects["HorizontalPodAutoscaler/server"]["spec"]["minReplicas"] == 3
    assert objects["Deployment/server-canary"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("name", ["MODEL_URI", "OUTPUT_URI", "HP_LR", "INPUT_X", "OUTPUT_Y"])
def test_user_env_may_not_shadow_what_the_reconciler_sets(name: str) -> None:
    # Refused when the spec is validated, so the error carries the file and line.
    with pytest.raises(ValidationError, match=f"environment variable '{name}' is set by"):
        loaded(model_deployment(image=SRV, env={name: "s3://elsewhere/"}))


# ---------------------------------------------------------------- kserve


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"format": "sklearn", "replicas": 2},
            {
                ("minReplicas",): 2,
                ("maxReplicas",): 2,
                ("model", "modelFormat", "name"): "sklearn",
                ("model", "storageUri"): "s3://models/m/1/",
            },
        ),
        (
            {"format": "onnx", "replicas": 0},
            {("minReplicas",): 0, ("maxReplicas",): 1},
        ),
        (
            {"format": "huggingface", "autoscaling": {"minReplicas": 1, "maxReplicas": 5}},
            {("minReplicas",): 1, ("maxReplicas",): 5, ("scaleMetric",): "cpu"},
        ),
        (
            {"format": "xgboost", "resources": {"gpu": 1}, "env": {"TOKEN": SECRET}},
            {
                ("model", "resources", "limits", "nvidia.com/gpu"): "1",
                ("model", "env", 0, "valueFrom"): SECRET,
            },
        ),
        (
            {"format": "sklearn", "canary": CANARY},
            {("model", "storageUri"): "s3://models/m/2/", ("canaryTrafficPercent",): 20},
        ),
        (
            {"format": "custom", "image": SRV, "port": 8000},
            {
                ("containers", 0, "name"): "kserve-container",
                ("containers", 0, "image"): SRV,
                ("containers", 0, "env", 0): {"name": "STORAGE_URI", "value": "s3://models/m/1/"},
                ("containers", 0, "ports", 0, "containerPort"): 8000,
            },
        ),
    ],
    ids=["sklearn", "zero", "autoscaling", "gpu-secret", "canary", "custom"],
)
def test_kserve(spec: dict, expected: dict) -> None:
    [isvc] = _render(model_deployment(runtime="kserve", **spec))
    assert isvc["kind"] == "InferenceService"
    predictor = isvc["spec"]["predictor"]
    assert predictor["labels"]["mlops/spec-name"] == "server"
    for path, value in expected.items():
        assert dig(predictor, *path) == value, path


def test_kserve_canary_records_both_models() -> None:
    [isvc] = _render(model_deployment(runtime="kserve", format="sklearn", canary=CANARY))
    annotations = isvc["metadata"]["annotations"]
    assert annotations["mlops/model-uri"] == "s3://models/m/1/"
    assert annotations["mlops/stable-model-uri"] == "s3://models/m/1/"
    assert annotations["mlops/canary-model-uri"] == "s3://models/m/2/"


# ---------------------------------------------------------------- seldon


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"format": "sklearn", "replicas": 3},
            {
                ("predictors", 0, "name"): "default",
                ("predictors", 0, "replicas"): 3,
                ("predictors", 0, "graph", "implementation"): "SKLEARN_SERVER",
                ("predictors", 0, "graph", "modelUri"): "s3://models/m/1/",
            },
        ),
        (
            {"format": "pytorch"},
            {("protocol",): "v2", ("predictors", 0, "graph", "implementation"): "TRITON_SERVER"},
        ),
        (
            {"format": "custom", "image": SRV, "resources": {"gpu": 1}},
            {
                ("predictors", 0, "graph", "type"): "MODEL",
                ("predictors", 0, "componentSpecs", 0, "spec", "containers", 0, "image"): SRV,
                (
                    "predictors",
                    0,
                    "componentSpecs",
                    0,
                    "spec",
                    "containers",
                    0,
                    "resources",
                    "limits",
                    "nvidia.com/gpu",
                ): "1",
            },
        ),
        (
            {"format": "xgboost", "replicas": 10, "canary": CANARY},
            {
                ("predictors", 0, "traffic"): 80,
                ("predictors", 0, "replicas"): 8,
                ("predictors", 1, "name"): "canary",
                ("predictors", 1, "traffic"): 20,
                ("predictors", 1, "replicas"): 2,
                ("predictors", 1, "graph", "modelUri"): "s3://models/m/2/",
            },
        ),
        (
            {"format": "tensorflow", "autoscaling": {"minReplicas": 2, "maxReplicas": 4}},
            {
                ("predictors", 0, "componentSpecs", 0, "hpaSpec", "minReplicas"): 2,
                ("predictors", 0, "componentSpecs", 0, "hpaSpec", "maxReplicas"): 4,
            },
        ),
    ],
    ids=["sklearn", "pytorch-v2", "custom-gpu", "canary", "autoscaling"],
)
def test_seldon(spec: dict, expected: dict) -> None:
    [seldon] = _render(model_deployment(runtime="seldon", **spec))
    assert seldon["kind"] == "SeldonDeployment"
    for path, value in expected.items():
        assert dig(seldon["spec"], *path) == value, path


# ---------------------------------------------------------------- training


def test_job() -> None:
    doc = training_job(
        args=["--data", "s3://d/"],
        hyperparameters={"n-layers": 4, "lr": 0.01, "use.amp": True},
        env={"TOKEN": SECRET},
        resources={"cpu": "2", "gpu": 1},
        output={"uri": "s3://out/{run}/model.pt"},
        timeout="1h30m",
    )
    [job] = _render(doc)
    run = f"train-{run_hash(loaded(doc).spec)}"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == run
    assert job["metadata"]["labels"]["mlops/run-hash"] == run[-8:]
    assert job["metadata"]["annotations"]["mlops/output-uri"] == f"s3://out/{run}/model.pt"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 5400
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["mlops/run-hash"] == run[-8:]
    assert pod["spec"]["restartPolicy"] == "Never"
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--data", "s3://d/", "--lr=0.01", "--n-layers=4", "--use.amp=true"]
    assert _env(container) == {
        "OUTPUT_URI": f"s3://out/{run}/model.pt",
        "HP_LR": "0.01",
        "HP_N_LAYERS": "4",
        "HP_USE_AMP": "true",
        "TOKEN": SECRET,
    }
    assert container["resources"]["limits"] == {"cpu": "2", "nvidia.com/gpu": "1"}
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_job_backoff_limit_from_spec() -> None:
    [job] = _render(training_job(backoffLimit=3))
    assert job["spec"]["backoffLimit"] == 3


def test_hyperparameters_that_collide_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"'l\.r' and 'l-r' both become HP_L_R"):
        loaded(training_job(hyperparameters={"l.r": 1, "l-r": 2}))


@pytest.mark.parametrize(("workers", "worker_replicas"), [(4, 3), (1, None)])
def test_pytorchjob(workers: int, worker_replicas: int | None) -> None:
    doc = training_job(backend="pytorchjob", workers=workers, resources={"gpu": 1}, timeout="2h")
    [job] = _render(doc)
    assert job["kind"] == "PyTorchJob"
    assert job["metadata"]["name"] == f"train-{run_hash(loaded(doc).spec)}"
    assert job["spec"]["runPolicy"] == {"backoffLimit": 0, "activeDeadlineSeconds": 7200}
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas.get("Worker", {}).get("replicas") == worker_replicas
    for replica in replicas.values():
        [container] = replica["template"]["spec"]["containers"]
        assert container["name"] == "pytorch"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


@pytest.mark.parametrize(("workers", "group_replicas"), [(3, 2), (1, None)])
def test_rayjob(workers: int, group_replicas: int | None) -> None:
    doc = training_job(
        backend="rayjob",
        workers=workers,
        command=["python", "-m", "train"],
        args=["--name", "two words"],
        hyperparameters={"epochs": 2},
    )
    [job] = _render(doc)
    assert job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"] == "python -m train --name 'two words' --epochs=2"
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    cluster = job["spec"]["rayClusterSpec"]
    head = dig(cluster, "headGroupSpec", "template", "spec", "containers", 0)
    assert _env(head)["HP_EPOCHS"] == "2"
    if group_replicas is None:
        assert "workerGroupSpecs" not in cluster
    else:
        [group] = cluster["workerGroupSpecs"]
        assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == group_replicas


def test_rayjob_needs_a_command() -> None:
    with pytest.raises(ValidationError, match="entrypoint"):
        loaded(training_job(backend="rayjob", command=[]))


# ---------------------------------------------------------------- pipeline


def test_pipeline_jobs_in_order_with_inputs_and_outputs() -> None:
    doc = pipeline()
    spec = loaded(doc)
    hashes = step_hashes(spec.spec)
    names = {step: f"flow-{step}-{hashes[step]}" for step in hashes}
    jobs = render(spec, context(spec))
    assert [job["metadata"]["name"] for job in jobs] == list(names.values())
    envs = {}
    for job in jobs:
        step = job["metadata"]["labels"]["mlops/pipeline-step"]
        assert job["metadata"]["labels"]["mlops/run-hash"] == hashes[step]
        assert job["spec"]["template"]["metadata"]["labels"]["mlops/pipeline-step"] == step
        envs[step] = _env(job["spec"]["template"]["spec"]["containers"][0])
    assert envs["prepare"] == {"OUTPUT_DATA": f"s3://d/{names['prepare']}/"}
    annotations = [job["metadata"]["annotations"] for job in jobs]
    assert annotations[1]["mlops/outputs"] == (
        f'{{"model-file":"s3://m/{names["train"]}/model.bin"}}'
    )
    assert "mlops/outputs" not in annotations[2]
    assert envs["train"] == {
        "INPUT_PREPARE_DATA": f"s3://d/{names['prepare']}/",
        "OUTPUT_MODEL_FILE": f"s3://m/{names['train']}/model.bin",
    }
    assert envs["evaluate"] == {
        "INPUT_PREPARE_DATA": f"s3://d/{names['prepare']}/",
        "INPUT_TRAIN_MODEL_FILE": f"s3://m/{names['train']}/model.bin",
    }


def test_render_step_matches_the_pipeline() -> None:
    spec = loaded(pipeline())
    ctx = context(spec)
    assert render_step(spec, ctx, "train") == render(spec, ctx)[1]


# ---------------------------------------------------------------- model resolution


def test_from_training_serves_the_current_run() -> None:
    train = training_job(output={"uri": "s3://out/{run}/model.bin"})
    serve = model_deployment(image=SRV, model={"fromTraining": {"name": "train"}})
    objects = _by_kind_name(_render(serve, train))
    run = f"train-{run_hash(loaded(train).spec)}"
    container = objects["Deployment/server"]["spec"]["template"]["spec"]["containers"][0]
    assert _env(container)["MODEL_URI"] == f"s3://out/{run}/model.bin"


@pytest.mark.parametrize(
    "others",
    [[], [training_job()]],
    ids=["no-training", "no-output"],
)
def test_nothing_to_serve_renders_nothing(others: list[dict]) -> None:
    serve = model_deployment(image=SRV, model={"fromTraining": {"name": "train"}})
    assert _render(serve, *others) == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ({"name": "flow", "step": "train"}, "s3://m/{run}/model.bin"),
        ({"name": "flow", "step": "prepare", "output": "data"}, "s3://d/{run}/"),
        ({"name": "flow", "step": "evaluate"}, None),
        ({"name": "flow", "step": "train", "output": "nope"}, None),
    ],
)
def test_from_pipeline(ref: dict, expected: str | None) -> None:
    flow = pipeline()
    serve = model_deployment(runtime="kserve", format="sklearn", model={"fromPipeline": ref})
    manifests = _render(serve, flow)
    if expected is None:
        assert manifests == []
        return
    run = f"flow-{ref['step']}-{step_hashes(loaded(flow).spec)[ref['step']]}"
    assert manifests[0]["spec"]["predictor"]["model"]["storageUri"] == expected.format(run=run)


def test_canary_not_trained_yet_serves_the_stable_model_alone() -> None:
    canary = {"model": {"fromTraining": {"name": "train"}}, "trafficPercent": 30}
    doc = model_deployment(image=SRV, replicas=4, canary=canary)
    objects = _by_kind_name(_render(doc))
    assert sorted(objects) == ["Deployment/server", "Service/server"]
    assert objects["Deployment/server"]["spec"]["replicas"] == 4
    assert "mlops/canary-model-uri" not in objects["Service/server"]["metadata"]["annotations"]
