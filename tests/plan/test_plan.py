"""plan(): pairing desired with live objects and the drift rules."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.inventory import Inventory, ObjectRef, stamp, tracking_id
from reconciler.plan import Action, Change, ChangeSet
from reconciler.plan import plan as plan_for
from reconciler.specs.loaded import SpecKey

FIXTURES = Path(__file__).parent / "fixtures"
MANAGED = {"app.kubernetes.io/managed-by": "reconciler"}
INSTANCE = "test"  # the installation the live fixtures were applied by
CONTAINER = "spec.template.spec.containers[name=model]"

Obj = dict[str, Any]
Edit = Callable[[Obj], None]


def load(name: str) -> Obj:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


def container(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]["containers"][0]


def env(obj: Obj, name: str) -> Obj:
    return next(item for item in container(obj)["env"] if item["name"] == name)


def obj(
    api_version: str,
    kind: str,
    name: str,
    namespace: str = "ml-team",
    labels: dict[str, str] | None = None,
    ours: bool | None = None,
    **fields: Any,
) -> Obj:
    """An object; ours (it carries our tracking id) when labelled as managed by us, unless
    ``ours`` says otherwise."""
    metadata: Obj = {"name": name, "labels": dict(MANAGED if labels is None else labels)}
    if namespace:
        metadata["namespace"] = namespace
    made = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
    managed = metadata["labels"].get("app.kubernetes.io/managed-by") == "reconciler"
    if ours if ours is not None else managed:
        metadata["annotations"] = {
            "mlops/tracking-id": tracking_id(INSTANCE, ObjectRef.from_object(made))
        }
    return made


def plan(desired: list[Obj], live: list[Obj], **options: Any) -> ChangeSet:
    """plan() with every live object recorded in this installation's inventory."""
    recorded = Inventory.of(INSTANCE, [(ObjectRef.from_object(o), "") for o in live])
    return plan_for(desired, live, inventory=recorded, **options)


def nothing(_: Obj) -> None:
    pass


def set_replicas(o: Obj) -> None:
    o["spec"]["replicas"] = 5


def set_log_level(o: Obj) -> None:
    env(o, "LOG_LEVEL")["value"] = "debug"


def set_image(o: Obj) -> None:
    container(o)["image"] = "registry.example.com/fraud:hotfix"


def add_sidecar(o: Obj) -> None:
    o["spec"]["template"]["spec"]["containers"].append(
        {"name": "debug", "image": "busybox", "imagePullPolicy": "Always"}
    )


def add_env(o: Obj) -> None:
    container(o)["env"].append({"name": "EXTRA", "value": "1"})


def remove_env(o: Obj) -> None:
    container(o)["env"] = [e for e in container(o)["env"] if e["name"] != "LOG_LEVEL"]


def remove_label(o: Obj) -> None:
    del o["metadata"]["labels"]["app.kubernetes.io/name"]


def add_label(o: Obj) -> None:
    o["metadata"]["labels"]["owner"] = "someone"


def bump_revision(o: Obj) -> None:
    o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "7"


def change_status(o: Obj) -> None:
    o["status"] = {"replicas": 9, "conditions": []}


def reorder_keyed_lists(o: Obj) -> None:
    container(o)["env"].reverse()
    ports = container(o)["ports"]
    ports.insert(0, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"})
    o["spec"]["template"]["spec"]["volumes"].insert(0, {"name": "tmp", "emptyDir": {}})


def reorder_args(o: Obj) -> None:
    container(o)["args"].reverse()


def append_arg(o: Obj) -> None:
    container(o)["args"].append("--verbose")


def long_quantities(o: Obj) -> None:
    resources = container(o)["resources"]
    resources["limits"]["cpu"] = "1000m"
    resources["limits"]["memory"] = "1024Mi"
    resources["requests"]["cpu"] = 0.5
    resources["limits"]["nvidia.com/gpu"] = 1


def halve_cpu(o: Obj) -> None:
    container(o)["resources"]["requests"]["cpu"] = "250m"


def change_port(o: Obj) -> None:
    container(o)["ports"][0]["containerPort"] = 9090


def new_spec_hash(o: Obj) -> None:
    o["metadata"]["annotations"]["mlops/spec-hash"] = "0000000000000000"


def empty_values(o: Obj) -> None:
    spec = o["spec"]["template"]["spec"]
    spec["imagePullSecrets"] = []
    spec["nodeSelector"] = {}
    spec["hostNetwork"] = False
    container(o)["workingDir"] = ""


def set_host_network(o: Obj) -> None:
    o["spec"]["template"]["spec"]["hostNetwork"] = True


# case, edit desired, edit live, action, drift paths, reason
DEPLOYMENT_CASES: list[tuple[str, Edit, Edit, Action, tuple[str, ...], str]] = [
    ("server defaults are not drift", nothing, nothing, Action.NOOP, (), "in sync"),
    (
        "replicas scaled by hand",
        nothing,
        set_replicas,
        Action.UPDATE,
        ("spec.replicas",),
        "drifted: spec.replicas",
    ),
    (
        "env value changed by hand",
        nothing,
        set_log_level,
        Action.UPDATE,
        (f"{CONTAINER}.env[name=LOG_LEVEL].value",),
        f"drifted: {CONTAINER}.env[name=LOG_LEVEL].value",
    ),
    (
        "image changed by hand",
        nothing,
        set_image,
        Action.UPDATE,
        (f"{CONTAINER}.image",),
        f"drifted: {CONTAINER}.image",
    ),
    # Server-side apply leaves a container another manager added, so it is not ours to revert.
    ("container added by hand", nothing, add_sidecar, Action.NOOP, (), "in sync"),
    ("env var added by hand", nothing, add_env, Action.NOOP, (), "in sync"),
    (
        "env var removed by hand",
        nothing,
        remove_env,
        Action.UPDATE,
        (f"{CONTAINER}.env[name=LOG_LEVEL]",),
        f"drifted: {CONTAINER}.env[name=LOG_LEVEL]",
    ),
    (
        "label removed by hand",
        nothing,
        remove_label,
        Action.UPDATE,
        ('metadata.labels["app.kubernetes.io/name"]',),
        'drifted: metadata.labels["app.kubernetes.io/name"]',
    ),
    ("label added by hand", nothing, add_label, Action.NOOP, (), "in sync"),
    ("annotation the manifest does not set", nothing, bump_revision, Action.NOOP, (), "in sync"),
    ("status is never compared", nothing, change_status, Action.NOOP, (), "in sync"),
    ("keyed lists reordered", nothing, reorder_keyed_lists, Action.NOOP, (), "in sync"),
    (
        "atomic list reordered",
        nothing,
        reorder_args,
        Action.UPDATE,
        (f"{CONTAINER}.args[0]", f"{CONTAINER}.args[1]"),
        f"drifted: {CONTAINER}.args[0]; {CONTAINER}.args[1]",
    ),
    (
        "atomic list grew",
        nothing,
        append_arg,
        Action.UPDATE,
        (f"{CONTAINER}.args",),
        f"drifted: {CONTAINER}.args",
    ),
    ("quantities in another form", long_quantities, nothing, Action.NOOP, (), "in sync"),
    (
        "quantity changed",
        nothing,
        halve_cpu,
        Action.UPDATE,
        (f"{CONTAINER}.resources.requests.cpu",),
        f"drifted: {CONTAINER}.resources.requests.cpu",
    ),
    (
        "keyed item's key changed",
        nothing,
        change_port,
        Action.UPDATE,
        (f"{CONTAINER}.ports[containerPort=8080/TCP]",),
        f"drifted: {CONTAINER}.ports[containerPort=8080/TCP]",
    ),
    (
        "spec hash changed",
        new_spec_hash,
        nothing,
        Action.UPDATE,
        ('metadata.annotations["mlops/spec-hash"]',),
        "spec changed",
    ),
    ("empty values the server omits", empty_values, nothing, Action.NOOP, (), "in sync"),
    (
        "zero value set by hand",
        empty_values,
        set_host_network,
        Action.UPDATE,
        ("spec.template.spec.hostNetwork",),
        "drifted: spec.template.spec.hostNetwork",
    ),
]


@pytest.mark.parametrize(
    ("case", "edit_desired", "edit_live", "action", "drift", "reason"),
    DEPLOYMENT_CASES,
    ids=[case[0] for case in DEPLOYMENT_CASES],
)
def test_deployment_against_live(
    case: str,
    edit_desired: Edit,
    edit_live: Edit,
    action: Action,
    drift: tuple[str, ...],
    reason: str,
) -> None:
    desired, live = load("deployment-desired"), load("deployment-live")
    edit_desired(desired)
    edit_live(live)
    (change,) = plan([desired], [live]).changes
    assert (change.action, change.drift, change.reason) == (action, drift, reason)
    assert change.desired is desired
    assert change.live is live


def service_target_port(desired_port: Any, live_port: Any) -> Change:
    desired, live = load("service-desired"), load("service-live")
    desired["spec"]["ports"][0]["targetPort"] = desired_port
    live["spec"]["ports"][0]["targetPort"] = live_port
    (change,) = plan([desired], [live]).changes
    return change


@pytest.mark.parametrize(
    ("desired_port", "live_port", "action"),
    [
        (8080, 8080, Action.NOOP),
        ("http", "http", Action.NOOP),
        # A number is a port, a string a port name: "8080" names a port, it is not 8080.
        (8080, "8080", Action.UPDATE),
        ("8080", 8080, Action.UPDATE),
    ],
)
def test_target_port_compares_exactly(desired_port: Any, live_port: Any, action: Action) -> None:
    change = service_target_port(desired_port, live_port)
    assert change.action is action
    if action is Action.UPDATE:
        assert change.drift == ("spec.ports[port=80/TCP].targetPort",)


def test_quantities_compare_canonically_only_under_resources() -> None:
    desired = obj("v1", "ConfigMap", "limits", data={"cpu": "1000m"})
    live = obj("v1", "ConfigMap", "limits", data={"cpu": "1"})
    (change,) = plan([desired], [live]).changes
    assert change.action is Action.UPDATE
    assert change.drift == ("data.cpu",)


def test_reason_names_the_first_drifts_and_counts_the_rest() -> None:
    desired = obj("v1", "ConfigMap", "many", data={k: "a" for k in "abcde"})
    live = obj("v1", "ConfigMap", "many", data={k: "b" for k in "abcde"})
    (change,) = plan([desired], [live]).changes
    assert change.reason == "drifted: data.a; data.b; data.c (and 2 more)"
    assert change.drift == tuple(f"data.{k}" for k in "abcde")


def test_an_applied_change_keeps_what_status_and_events_read_and_drops_the_objects() -> None:
    spec_labels = {**MANAGED, "mlops/spec-kind": "ModelDeployment", "mlops/spec-name": "web"}
    desired = obj("apps/v1", "Deployment", "web", labels=spec_labels, spec={"replicas": 2})
    live = obj("apps/v1", "Deployment", "web", labels=spec_labels, spec={"replicas": 1})
    live["metadata"]["uid"] = "u-1"
    gone = obj("v1", "Service", "old", labels=spec_labels)
    changes = ChangeSet(
        (
            Change(Action.CREATE, ObjectRef.from_object(desired), "new", desired, None),
            Change(Action.UPDATE, ObjectRef.from_object(desired), "spec changed", desired, live),
            Change(Action.PRUNE, ObjectRef.from_object(gone), "removed from Git", None, gone),
        )
    )
    created, updated, pruned = changes.applied()
    for before, after in zip(changes, (created, updated), strict=False):
        assert (after.action, after.ref, after.reason) == (before.action, before.ref, before.reason)
        assert after.spec == before.spec == SpecKey("ModelDeployment", "ml-team", "web")
        assert after.desired is not None and "spec" not in after.desired
        assert after.live is None or "spec" not in after.live
    assert created.live is None
    assert updated.live == {"metadata": {"uid": "u-1"}}  # an Event about it names the object
    assert pruned is changes.changes[2]  # written last, and its live object says where it was


def test_create_for_desired_without_live() -> None:
    desired = obj("apps/v1", "Deployment", "web")
    (change,) = plan([desired], []).changes
    assert change == Change(Action.CREATE, ObjectRef.from_object(desired), "new", desired, None)


def test_prune_for_owned_live_without_desired() -> None:
    live = obj("apps/v1", "Deployment", "old")
    (change,) = plan([], [live]).changes
    assert change == Change(
        Action.PRUNE, ObjectRef.from_object(live), "removed from Git", None, live
    )


def test_live_objects_not_ours_are_never_pruned() -> None:
    stranger = obj("apps/v1", "Deployment", "theirs", labels={"app": "theirs"})
    other_manager = obj("v1", "ConfigMap", "helm", labels={"app.kubernetes.io/managed-by": "Helm"})
    unlabelled = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bare"}}
    # The three labels this reconciler writes, copied onto a hand-made object.
    copied = obj(
        "apps/v1", "Deployment", "copied", labels={**MANAGED, "mlops/spec-name": "x"}, ours=False
    )
    other_install = stamp(obj("apps/v1", "Deployment", "twin", ours=False), "other")
    live = [stranger, other_manager, unlabelled, copied, other_install]
    assert plan([], live).changes == ()


def test_owned_objects_missing_from_the_inventory_are_left() -> None:
    """Created just before a crash, before the status write recorded it: left, not deleted."""
    live = obj("apps/v1", "Deployment", "unrecorded")
    assert plan_for([], [live], inventory=Inventory(INSTANCE)).changes == ()


def test_a_desired_object_at_the_address_of_someone_elses_is_a_create() -> None:
    """plan() pairs only our objects; apply looks before it creates and refuses (NotOwned)."""
    desired = obj("v1", "ConfigMap", "shared", data={"a": "1"})
    live = obj("v1", "ConfigMap", "shared", ours=False, data={"a": "1"})
    (change,) = plan([desired], [live]).changes
    assert (change.action, change.live) == (Action.CREATE, None)


def test_retain_prevents_prune() -> None:
    kept = obj("batch/v1", "Job", "train-1a2b3c4d")
    gone = obj("batch/v1", "Job", "train-99999999")
    changes = plan([], [kept, gone], retain=[ObjectRef.from_object(kept)]).changes
    assert [(c.action, c.ref.name) for c in changes] == [(Action.PRUNE, "train-99999999")]


def run_job(name: str, image: str) -> Obj:
    labels = {**MANAGED, "mlops/run-hash": name[-8:]}
    return obj("batch/v1", "Job", name, labels=labels, spec={"template": {"image": image}})


@pytest.mark.parametrize(
    ("live", "action", "reason"),
    [
        ([], Action.CREATE, "new"),
        (
            [run_job("train-1a2b3c4d", "trainer:v1")],
            Action.KEEP,
            "run exists; runs are never patched",
        ),
        # Even a run edited by hand is not patched: a Job's pod template is immutable.
        ([run_job("train-1a2b3c4d", "edited")], Action.KEEP, "run exists; runs are never patched"),
    ],
)
def test_runs_are_created_once(live: list[Obj], action: Action, reason: str) -> None:
    (change,) = plan([run_job("train-1a2b3c4d", "trainer:v1")], live).changes
    assert (change.action, change.reason) == (action, reason)


def test_pairing_ignores_the_api_version() -> None:
    desired = obj("autoscaling/v2", "HorizontalPodAutoscaler", "web", spec={"maxReplicas": 3})
    live = obj("autoscaling/v1", "HorizontalPodAutoscaler", "web", spec={"maxReplicas": 3})
    (change,) = plan([desired], [live]).changes
    assert change.action is Action.NOOP
    assert change.ref.api_version == "autoscaling/v2"


def test_two_desired_objects_with_one_key_are_refused() -> None:
    first = obj("apps/v1", "Deployment", "web")
    second = obj("apps/v1", "Deployment", "web", spec={"replicas": 3})
    with pytest.raises(ValueError, match="apps/v1 Deployment ml-team/web"):
        plan([first, second], [])


def test_apply_order_then_prune_order() -> None:
    desired = [
        obj("unknown.example.com/v1", "Widget", "w"),
        obj("machinelearning.seldon.io/v1", "SeldonDeployment", "s"),
        obj("v1", "Service", "web"),
        obj("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
        obj("apps/v1", "Deployment", "web"),
        obj("ray.io/v1", "RayJob", "r"),
        obj("batch/v1", "Job", "j"),
        obj("v1", "ConfigMap", "c"),
        obj("v1", "Namespace", "ml-team", namespace=""),
        obj("serving.kserve.io/v1beta1", "InferenceService", "k"),
        obj("kubeflow.org/v1", "PyTorchJob", "p"),
    ]
    live = [
        obj("v1", "Namespace", "old-team", namespace=""),
        obj("batch/v1", "Job", "old-job"),
        obj("apps/v1", "Deployment", "old-web"),
        obj("v1", "ConfigMap", "old-config"),
    ]
    changes = plan(desired, live).changes
    assert [(c.action, c.ref.kind) for c in changes] == [
        (Action.CREATE, "Namespace"),
        (Action.CREATE, "ConfigMap"),
        (Action.CREATE, "Service"),
        (Action.CREATE, "Job"),
        (Action.CREATE, "PyTorchJob"),
        (Action.CREATE, "RayJob"),
        (Action.CREATE, "Deployment"),
        (Action.CREATE, "HorizontalPodAutoscaler"),
        (Action.CREATE, "InferenceService"),
        (Action.CREATE, "SeldonDeployment"),
        (Action.CREATE, "Widget"),
        (Action.PRUNE, "Deployment"),
        (Action.PRUNE, "Job"),
        (Action.PRUNE, "ConfigMap"),
        (Action.PRUNE, "Namespace"),
    ]


def test_output_does_not_depend_on_input_order() -> None:
    desired = [obj("v1", "ConfigMap", name) for name in "dbca"]
    live = [obj("v1", "Secret", name) for name in "zyx"]
    forward = plan(desired, live)
    backward = plan(desired[::-1], live[::-1])
    assert forward == backward
    assert [c.ref.name for c in forward] == ["a", "b", "c", "d", "x", "y", "z"]


def spec_labels(kind: str, name: str) -> dict[str, str]:
    return {**MANAGED, "mlops/spec-kind": kind, "mlops/spec-name": name}


def test_changeset_views() -> None:
    live_web = obj("apps/v1", "Deployment", "web", labels=spec_labels("ModelDeployment", "web"))
    desired = [
        obj("apps/v1", "Deployment", "web", labels=spec_labels("ModelDeployment", "web")),
        obj("v1", "Service", "web", labels=spec_labels("ModelDeployment", "web")),
        obj("batch/v1", "Job", "train", labels=spec_labels("TrainingJob", "train")),
    ]
    live = [
        copy.deepcopy(live_web),
        obj("v1", "ConfigMap", "stale", labels=spec_labels("TrainingJob", "train")),
        obj("v1", "ConfigMap", "orphan"),
    ]
    changeset = plan(desired, live)
    assert [(c.ref.kind, c.ref.name) for c in changeset.creates] == [
        ("Service", "web"),
        ("Job", "train"),
    ]
    assert [c.ref.name for c in changeset.noops] == ["web"]
    assert [c.ref.name for c in changeset.prunes] == ["orphan", "stale"]
    assert changeset.updates == () and changeset.keeps == ()
    assert changeset.has_writes
    assert len(changeset) == 5
    groups = changeset.by_spec()
    assert {spec: [c.ref.name for c in changes] for spec, changes in groups.items()} == {
        ("TrainingJob", "ml-team", "train"): ["train", "stale"],
        ("ModelDeployment", "ml-team", "web"): ["web", "web"],
        None: ["orphan"],
    }


def test_a_no_op_plan_has_no_writes() -> None:
    desired, live = load("deployment-desired"), load("deployment-live")
    changeset = plan([desired], [live])
    assert not changeset.has_writes
    assert ChangeSet(()).has_writes is False


@pytest.mark.parametrize(
    ("desired_value", "live_value", "action"),
    [
        (1, 1, Action.NOOP),
        (1, 1.0, Action.NOOP),
        (True, True, Action.NOOP),
        (True, 1, Action.UPDATE),
        (True, "true", Action.UPDATE),
        (True, "True", Action.UPDATE),
        (0, False, Action.UPDATE),
        ("1", 1, Action.UPDATE),
    ],
)
def test_scalars_compare_by_type_and_value(
    desired_value: Any, live_value: Any, action: Action
) -> None:
    desired = obj("example.com/v1", "Widget", "w", spec={"value": desired_value})
    live = obj("example.com/v1", "Widget", "w", spec={"value": live_value})
    (change,) = plan([desired], [live]).changes
    assert change.action is action


def test_status_in_a_manifest_is_not_compared() -> None:
    desired = obj("example.com/v1", "Widget", "w", spec={"a": 1}, status={"phase": "New"})
    live = obj("example.com/v1", "Widget", "w", spec={"a": 1}, status={"phase": "Ready"})
    (change,) = plan([desired], [live]).changes
    assert change.action is Action.NOOP


def test_a_newly_promoted_model_is_a_model_change_not_drift():
    from reconciler import labels as keys

    def deployment(uri: str) -> dict:
        made = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "m",
                "namespace": "ml",
                "labels": {keys.MANAGED_BY: keys.MANAGER},
                "annotations": {keys.SPEC_HASH: "h", keys.MODEL_URI: uri},
            },
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "s", "env": [{"name": "MODEL_URI", "value": uri}]}]
                    }
                }
            },
        }
        return stamp(made, INSTANCE)

    (change,) = plan([deployment("s3://m/new")], [deployment("s3://m/old")]).changes
    assert change.action is Action.UPDATE
    assert change.reason == "model changed: now s3://m/new"
