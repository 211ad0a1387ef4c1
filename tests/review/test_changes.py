"""Plans between real commits, one kind of change at a time."""

from __future__ import annotations

import json
from typing import Any

from reconciler.render.identity import run_hash
from reconciler.specs.loader import load_directory
from tests.review.conftest import SERVING, TRAINING, spec


def _specs(outcome) -> dict[str, dict[str, Any]]:
    document = json.loads(outcome.out)
    return {f"{s['kind']}/{s['namespace']}/{s['name']}": s for s in document["specs"]}


def _training_hash(repo) -> str:
    loaded = load_directory(repo.path)
    (training,) = [item.spec for item in loaded.specs if item.spec.kind == "TrainingJob"]
    return run_hash(training)


def test_new_model_is_added_with_its_objects(repo, plan):
    repo.write(
        "models/scorer.yaml",
        spec(
            """
            apiVersion: mlops/v1alpha1
            kind: ModelDeployment
            metadata: {name: scorer}
            spec:
              model: {uri: "s3://models/scorer/v1/"}
              image: ghcr.io/acme/server:1.0.0
              replicas: 3
            """
        ),
    )
    repo.commit()

    outcome = plan("--format", "json")

    assert outcome.code == 0
    specs = _specs(outcome)
    assert list(specs) == ["ModelDeployment/ml-team/scorer"]
    added = specs["ModelDeployment/ml-team/scorer"]
    assert added["change"] == "added"
    assert added["happens"] == ["serves s3://models/scorer/v1/ on deployment, 3 replicas"]
    assert [(o["kind"], o["name"], o["action"]) for o in added["objects"]] == [
        ("Deployment", "scorer", "create"),
        ("Service", "scorer", "create"),
    ]
    assert added["objects"][0]["manifest"]["spec"]["replicas"] == 3


def test_changed_replicas(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 5")
    repo.commit()

    outcome = plan()

    assert outcome.code == 0
    assert "~ ModelDeployment ml-team/fraud-detector  changed" in outcome.out
    assert "    replicas 2 -> 5\n" in outcome.out
    assert "~ apps/v1 Deployment ml-team/fraud-detector" in outcome.out
    assert "spec.replicas: 2 -> 5" in outcome.out
    assert "Pipeline" not in outcome.out  # unchanged specs are left out


def test_hyperparameter_change_is_a_new_run_naming_both_hashes(repo, plan):
    old = _training_hash(repo)
    repo.edit("training/train-fraud.yaml", "lr: 0.01", "lr: 0.02")
    repo.commit()
    new = _training_hash(repo)

    outcome = plan("--format", "json")

    training = _specs(outcome)["TrainingJob/ml-team/train-fraud"]
    assert old != new
    assert training["happens"][0] == (
        f"new training run (hash {new} replaces {old}) because hyperparameters.lr changed"
    )
    (job,) = training["objects"]
    assert (job["action"], job["name"], job["previousName"]) == (
        "replace",
        f"train-fraud-{new}",
        f"train-fraud-{old}",
    )
    paths = {field["path"]: field for field in job["fields"]}
    hp = paths["spec.template.spec.containers[name=train].env[name=HP_LR].value"]
    assert (hp["before"], hp["after"]) == ("0.01", "0.02")
    # The serving fed by this training switches to the new run once it passes its gate.
    serving = _specs(outcome)["ModelDeployment/ml-team/fraud-detector"]
    assert serving["change"] == "changed"
    assert (
        "serving switches to the output of train-fraud when its next run passes accuracy >= 0.9"
        in serving["happens"]
    )


def test_history_limit_is_not_a_new_run(repo, plan):
    repo.edit("training/train-fraud.yaml", "timeout: 2h", "timeout: 2h\n  historyLimit: 7")
    repo.commit()

    training = _specs(plan("--format", "json"))["TrainingJob/ml-team/train-fraud"]

    assert training["happens"] == [
        f"no new training run (hash {_training_hash(repo)} unchanged)",
        "historyLimit 3 -> 7",
    ]
    assert training["objects"] == []


def test_removed_spec_deletes_its_objects(repo, plan):
    repo.remove("models/fraud-detector.yaml")
    repo.commit()

    removed = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert removed["change"] == "removed"
    assert removed["happens"] == [
        "Deployment fraud-detector will be deleted",
        "Service fraud-detector will be deleted",
    ]
    assert removed["risks"] == ["serving deleted: fraud-detector stops serving"]


def test_canary_added(repo, plan):
    repo.edit(
        "models/fraud-detector.yaml",
        "  promotion:",
        "  canary:\n    model: {uri: s3://models/fraud/v2/}\n    trafficPercent: 10\n  promotion:",
    )
    repo.commit()

    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert "canary added: 10% of traffic to s3://models/fraud/v2/" in serving["happens"]
    assert "Deployment fraud-detector-canary will be created" in serving["happens"]
    assert serving["risks"] == []


def test_canary_jump_is_a_risk(repo, plan):
    repo.edit(
        "models/fraud-detector.yaml",
        "  promotion:",
        "  canary:\n    model: {uri: s3://models/fraud/v2/}\n    trafficPercent: 10\n  promotion:",
    )
    repo.commit()
    repo.edit("models/fraud-detector.yaml", "trafficPercent: 10", "trafficPercent: 60")
    repo.commit()

    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert "canary traffic 10% -> 60%" in serving["happens"]
    assert serving["risks"] == ["canary traffic jumps 10% -> 60%"]


def test_lowered_gate_is_a_risk(repo, plan):
    repo.edit("models/fraud-detector.yaml", "accuracy: 0.9", "accuracy: 0.8")
    repo.commit()

    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert "promotion gate accuracy >= 0.9 -> >= 0.8" in serving["happens"]
    assert serving["risks"] == ["promotion gate accuracy lowered >= 0.9 -> >= 0.8"]


def test_removed_gate_is_a_risk(repo, plan):
    repo.edit("models/fraud-detector.yaml", "  promotion:\n    metrics: {accuracy: 0.9}\n", "")
    repo.commit()

    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert serving["risks"] == ["promotion gate removed: any finished run will be served"]


def test_raised_gpus_are_a_risk_with_gpu_hours(repo, plan):
    repo.edit(
        "training/train-fraud.yaml",
        'resources: {cpu: "4", memory: 8Gi}',
        'resources: {cpu: "4", memory: 8Gi, gpu: 1}\n  backend: pytorchjob\n  workers: 2',
    )
    repo.commit()
    repo.edit("training/train-fraud.yaml", "gpu: 1}", "gpu: 2}")
    repo.commit()

    training = _specs(plan("--format", "json"))["TrainingJob/ml-team/train-fraud"]

    assert training["risks"] == [
        "GPUs raised 2 -> 4, GPU-hours 4 -> 8 (2 worker(s) x 2 GPU, timeout 2h)"
    ]


def test_gpus_without_timeout_are_unbounded(repo, plan):
    repo.edit("training/train-fraud.yaml", "  timeout: 2h\n", "")
    repo.edit("training/train-fraud.yaml", "memory: 8Gi}", "memory: 8Gi, gpu: 1}")
    repo.commit()

    training = _specs(plan("--format", "json"))["TrainingJob/ml-team/train-fraud"]

    assert training["risks"] == [
        "GPUs raised 0 -> 1, GPU-hours 0 -> unbounded (1 worker(s) x 1 GPU, no timeout)"
    ]


def test_secret_env_shows_the_reference_only(repo, plan):
    # A Secret manifest in the repository is not a spec: its value must never reach a plan.
    repo.write(
        "deploy/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2-value}\n",
    )
    repo.edit(
        "models/fraud-detector.yaml",
        "LOG_LEVEL: info",
        "LOG_LEVEL: info\n    DB_PASSWORD:\n      secretKeyRef: {name: db, key: password}",
    )
    repo.commit()

    outputs = {fmt: plan("--format", fmt).out for fmt in ("text", "markdown", "json")}

    for fmt, out in outputs.items():
        assert "hunter2" not in out, fmt
        assert "DB_PASSWORD" in out, fmt
    assert "env DB_PASSWORD added: secretKeyRef db/password" in outputs["text"]
    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]
    (deployment,) = [o for o in serving["objects"] if o["kind"] == "Deployment"]
    env = {f["path"]: f for f in deployment["fields"]}[
        "spec.template.spec.containers[name=server].env[name=DB_PASSWORD]"
    ]
    assert env["after"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
    assert "before" not in env


def test_latest_and_untagged_images_are_risks(repo, plan):
    repo.edit("models/fraud-detector.yaml", "sklearn-server:2.1.0", "sklearn-server:latest")
    repo.edit("training/train-fraud.yaml", "fraud-train:1.4.2", "fraud-train")
    repo.commit()

    specs = _specs(plan("--format", "json"))

    assert specs["ModelDeployment/ml-team/fraud-detector"]["risks"] == [
        "image ghcr.io/acme/sklearn-server:latest uses the tag latest: what runs can change "
        "without a commit"
    ]
    assert specs["TrainingJob/ml-team/train-fraud"]["risks"] == [
        "image ghcr.io/acme/fraud-train has no tag (means latest) and no digest: what runs can "
        "change without a commit"
    ]


def test_digest_pinned_image_is_no_risk(repo, plan):
    repo.edit("training/train-fraud.yaml", "fraud-train:1.4.2", "fraud-train@sha256:" + "a" * 64)
    repo.commit()

    assert _specs(plan("--format", "json"))["TrainingJob/ml-team/train-fraud"]["risks"] == []


def test_namespace_move_is_flagged_on_both_sides(repo, plan):
    repo.edit(
        "training/train-fraud.yaml", "name: train-fraud", "name: train-fraud\n  namespace: ml-lab"
    )
    repo.commit()

    specs = _specs(plan("--format", "json"))

    note = (
        "TrainingJob train-fraud moves from namespace ml-team to ml-lab: its objects in ml-team "
        "are deleted and new ones created in ml-lab"
    )
    assert specs["TrainingJob/ml-team/train-fraud"]["change"] == "removed"
    assert specs["TrainingJob/ml-lab/train-fraud"]["change"] == "added"
    assert note in specs["TrainingJob/ml-team/train-fraud"]["risks"]
    assert note in specs["TrainingJob/ml-lab/train-fraud"]["risks"]


def test_pipeline_step_change_reruns_downstream_only(repo, plan):
    repo.edit("pipelines/churn.yaml", "--eta=0.1", "--eta=0.2")
    repo.commit()

    pipeline = _specs(plan("--format", "json"))["Pipeline/ml-team/churn"]

    assert pipeline["happens"][0] == "pipeline steps train, evaluate re-run (prepare cached)"
    assert sorted((o["action"], o["name"].rsplit("-", 1)[0]) for o in pipeline["objects"]) == [
        ("replace", "churn-evaluate"),
        ("replace", "churn-train"),
    ]


def test_runtime_change_and_scale_to_zero_are_risks(repo, plan):
    repo.edit("models/fraud-detector.yaml", "format: sklearn", "format: sklearn\n  runtime: kserve")
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 0")
    repo.commit()

    serving = _specs(plan("--format", "json"))["ModelDeployment/ml-team/fraud-detector"]

    assert serving["risks"] == [
        "serving scaled to zero: fraud-detector stops serving",
        "runtime deployment -> kserve: serving objects are replaced, not updated",
    ]
    assert "Deployment fraud-detector will be deleted" in serving["happens"]
    assert "InferenceService fraud-detector will be created" in serving["happens"]


def test_unrelated_commit_is_no_change(repo, plan):
    repo.write("README.md", "specs\n")
    repo.commit()

    outcome = plan("--exit-code")

    assert outcome.code == 0
    assert "no changes" in outcome.out


def test_untouched_specs_stay_unchanged_even_though_commits_differ(repo, plan):
    """The source-commit annotation differs on every commit and must not count."""
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 3")
    repo.commit()

    document = json.loads(plan("--format", "json").out)

    assert [s["name"] for s in document["specs"]] == ["fraud-detector"]
    assert document["summary"]["unchanged"] == 2
    assert "mlops/source-commit" not in plan("--format", "markdown").out


def test_validation_errors_come_first_and_fail(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: lots")
    repo.edit("training/train-fraud.yaml", "lr: 0.01", "lr: 0.03")
    repo.commit()

    outcome = plan()

    assert outcome.code == 1
    lines = outcome.out.splitlines()
    errors = lines.index("errors:")
    first_spec = next(
        i for i, line in enumerate(lines) if line.startswith(("+ ", "~ ", "- ", "! "))
    )
    assert errors < first_spec
    assert lines[errors + 1].startswith("  models/fraud-detector.yaml:10:3: ")
    assert "spec.replicas" in lines[errors + 1]
    # The broken spec is not planned as a removal; the valid change still is.
    assert "! ModelDeployment ml-team/fraud-detector  invalid" in outcome.out
    assert "will be deleted" not in outcome.out
    assert "new training run" in outcome.out


def test_worktree_head_plans_uncommitted_changes(repo, plan):
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 4")

    committed = plan()
    uncommitted = plan("--head", "WORKTREE", "--format", "json")

    # HEAD is a root commit on main: against an empty repository, everything is new.
    assert "(empty) -> HEAD" in committed.out
    assert "replicas 2 -> 4" not in committed.out
    document = json.loads(uncommitted.out)
    assert document["head"] == {"ref": "WORKTREE", "commit": None}
    assert document["base"]["commit"] == repo.git("rev-parse", "HEAD")
    (serving,) = document["specs"]
    assert serving["happens"] == ["replicas 2 -> 4"]


def test_default_base_is_the_merge_base_with_main(repo, plan):
    fork = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 6")
    repo.commit("feature")
    repo.git("checkout", "-q", "main")
    repo.edit("training/train-fraud.yaml", "lr: 0.01", "lr: 0.5")
    repo.commit("main moves on")
    repo.git("checkout", "-q", "feature")

    document = json.loads(plan("--format", "json").out)

    assert document["base"]["commit"] == fork
    assert [s["name"] for s in document["specs"]] == ["fraud-detector"]


def test_on_main_the_default_base_is_the_parent(repo, plan):
    parent = repo.git("rev-parse", "HEAD")
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 6")
    repo.commit()

    document = json.loads(plan("--format", "json").out)

    assert document["base"]["commit"] == parent
    assert document["hasChanges"] is True


def test_explicit_refs(repo, plan):
    first = repo.git("rev-parse", "HEAD")
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 6")
    second = repo.commit()
    repo.edit("models/fraud-detector.yaml", "replicas: 6", "replicas: 2")
    repo.commit()

    forward = plan("--base", first, "--head", second)
    around = plan("--base", first)

    assert "replicas 2 -> 6" in forward.out
    assert "no changes" in around.out


def test_serving_spec_unchanged_by_text_keeps_serving(repo, plan):
    """Only the training changed: serving follows, training runs anew."""
    repo.write("training/train-fraud.yaml", TRAINING.replace("max_depth: 12", "max_depth: 10"))
    repo.write("models/fraud-detector.yaml", SERVING)
    repo.commit()

    specs = _specs(plan("--format", "json"))

    assert set(specs) == {
        "TrainingJob/ml-team/train-fraud",
        "ModelDeployment/ml-team/fraud-detector",
    }
