"""What a reconcile's report becomes as Kubernetes Events: pure, one case per kind of Event."""

from __future__ import annotations

from reconciler import labels
from reconciler.events import NOTE_BYTES, Report, occurrences
from reconciler.inventory import ObjectRef
from reconciler.phase import Phase
from reconciler.plan import Action, Change
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import ResourceRef, SpecStatus, StatusChange

HEAD = "a" * 40
DEPLOYMENT = ObjectRef("apps/v1", "Deployment", "ml", "fraud")
SERVICE = ObjectRef("v1", "Service", "ml", "fraud")


def obj(ref: ObjectRef, uid: str = "", **annotations: str) -> dict:
    metadata = {
        "name": ref.name,
        "namespace": ref.namespace,
        "labels": {labels.SPEC_KIND: "ModelDeployment", labels.SPEC_NAME: "fraud"},
        "annotations": annotations,
    }
    if uid:
        metadata["uid"] = uid
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": metadata}


def test_created_configured_and_pruned_objects_are_told_on_the_object():
    report = Report(
        HEAD,
        "2025-01-01T00:00:00Z",
        written=(
            Change(Action.CREATE, DEPLOYMENT, "new", obj(DEPLOYMENT), None),
            Change(Action.UPDATE, SERVICE, "spec changed", obj(SERVICE), obj(SERVICE)),
            Change(Action.PRUNE, SERVICE, "removed from Git", None, obj(SERVICE, uid="u-1")),
        ),
    )
    told = [(o.regarding, o.type, o.action, o.reason) for o in occurrences(report)]

    assert told == [
        (DEPLOYMENT, "Normal", "Apply", "Created"),
        (SERVICE, "Normal", "Apply", "Configured"),
        (SERVICE, "Normal", "Prune", "Pruned"),
    ]
    notes = [o.note for o in occurrences(report)]
    assert notes[0] == "ModelDeployment/fraud at aaaaaaa"
    assert occurrences(report)[2].uid == "u-1"


def test_drift_names_the_fields_never_the_live_values():
    live = obj(DEPLOYMENT)
    live["spec"] = {"template": {"spec": {"containers": [{"env": [{"value": "hunter2"}]}]}}}
    change = Change(
        Action.UPDATE,
        DEPLOYMENT,
        "drifted: spec.replicas; spec.template.spec.containers[server].env[DB]",
        obj(DEPLOYMENT),
        live,
    )
    (told,) = occurrences(Report(HEAD, "t", written=(change,)))

    assert told.reason == "DriftReverted"
    assert "spec.replicas" in told.note and "env[DB]" in told.note
    assert "hunter2" not in told.note


def test_a_failed_spec_gets_one_warning_on_its_first_object():
    spec = ("ModelDeployment", "ml", "fraud")
    report = Report(
        HEAD,
        "t",
        failed=(
            Change(Action.CREATE, DEPLOYMENT, "new", obj(DEPLOYMENT), None),
            Change(Action.CREATE, SERVICE, "new", obj(SERVICE), None),
        ),
        failures={spec: ("ApplyFailed", "Deployment.apps is invalid: " + "x" * 2000)},
    )
    (told,) = occurrences(report)

    assert (told.regarding, told.type, told.reason) == (DEPLOYMENT, "Warning", "ApplyFailed")
    assert len(told.note.encode()) <= NOTE_BYTES and told.note.endswith("...")


def serving_status(run: str | None, held: list[dict] | None = None) -> SpecStatus:
    model: dict = {"uri": f"s3://models/{run}/"}
    if run:
        model["run"] = run
    if held:
        model["notPromoted"] = held
    return SpecStatus(
        HEAD,
        Phase.READY,
        resources=(
            ResourceRef("v1", "Service", "ml", "fraud", "uid-svc"),
            ResourceRef("apps/v1", "Deployment", "ml", "fraud", "uid-dep"),
        ),
        extra={"model": model},
    )


def test_a_newer_run_served_advances_the_promotion_on_the_serving_object():
    key = SpecKey("ModelDeployment", "ml", "fraud")
    change = StatusChange(key, serving_status("train-b"), serving_status("train-a"))
    (told,) = occurrences(Report(HEAD, "t", changes=(change,)))

    assert (told.regarding, told.uid) == (DEPLOYMENT, "uid-dep")
    assert (told.action, told.reason) == ("Promote", "PromotionAdvanced")
    assert told.note == "serves s3://models/train-b/ from run train-b"


def test_a_run_held_by_the_gate_is_told_once():
    key = SpecKey("ModelDeployment", "ml", "fraud")
    held = [{"run": "train-c", "reason": "accuracy 0.7 < 0.9"}]
    first = StatusChange(key, serving_status("train-b", held), serving_status("train-b"))
    again = StatusChange(key, serving_status("train-b", held), serving_status("train-b", held))

    (told,) = occurrences(Report(HEAD, "t", changes=(first,)))
    assert (told.type, told.reason) == ("Warning", "PromotionHeld")
    assert "run train-c: accuracy 0.7 < 0.9" in told.note
    assert occurrences(Report(HEAD, "t", changes=(again,))) == []
