"""Server-side apply and managedFields, against what kube-apiserver records."""

from __future__ import annotations

import copy

import pytest

from reconciler_sandbox.fieldmanager import ApplyConflict, apply, list_keys_for, record_update

KEYS = list_keys_for("apps/v1", "Deployment")

SMALL = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ml", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "MODE", "value": "fast"}],
                    }
                ]
            },
        },
    },
}

# What `kubectl apply --server-side` of SMALL leaves in managedFields on a real cluster.
GOLDEN_APPLY = {
    "manager": "reconciler",
    "operation": "Apply",
    "apiVersion": "apps/v1",
    "time": "2025-01-01T00:00:00Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': {
                            ".": {},
                            "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                'k:{"containerPort":80,"protocol":"TCP"}': {
                                    ".": {},
                                    "f:containerPort": {},
                                }
                            },
                        }
                    }
                },
            },
        },
    },
}

# What `kubectl create` (an Update) of SMALL records: added maps and lists are members too.
GOLDEN_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {
                        ".": {},
                        "f:env": {
                            ".": {},
                            'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}},
                        },
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            ".": {},
                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                            },
                        },
                    }
                }
            },
        },
    },
}

T0, T1, T2 = "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "2025-01-01T00:02:00Z"


def _apply(live, applied, manager="reconciler", force=False, now=T0):
    return apply(live, applied, manager, force, now, KEYS)


def _managers(obj):
    return [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]


def test_create_by_apply_records_the_real_fields_v1():
    created = _apply(None, SMALL)
    assert created["metadata"]["managedFields"] == [GOLDEN_APPLY]
    body = copy.deepcopy(created)
    del body["metadata"]["managedFields"]
    assert body == SMALL


def test_create_by_update_records_the_real_fields_v1():
    entries = record_update(None, SMALL, "kubectl-create", T0, None, KEYS)
    assert [(e["manager"], e["operation"], e["time"]) for e in entries] == [
        ("kubectl-create", "Update", T0)
    ]
    assert entries[0]["fieldsV1"] == GOLDEN_CREATE_FIELDS


def test_reapplying_the_same_configuration_changes_nothing():
    created = _apply(None, SMALL)
    assert _apply(created, SMALL, now=T1) == created


def test_another_manager_changing_an_owned_field_conflicts():
    created = _apply(None, SMALL)
    change = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }
    with pytest.raises(ApplyConflict) as caught:
        _apply(created, change, manager="kubectl", now=T1)
    error = caught.value
    assert error.conflicts == [("reconciler", ".spec.replicas")]
    assert error.code == 409 and error.reason == "Conflict"
    assert (
        error.message == 'Apply failed with 1 conflict: conflict with "reconciler": .spec.replicas'
    )
    assert error.details == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "reconciler"',
                "field": ".spec.replicas",
            }
        ]
    }


def test_conflicts_with_an_updater_name_its_api_version():
    created = _apply(None, SMALL)
    edited = copy.deepcopy(created)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    edited["metadata"]["managedFields"] = record_update(
        created, edited, "kubectl-edit", T1, None, KEYS
    )
    with pytest.raises(ApplyConflict) as caught:
        _apply(edited, SMALL, now=T2)
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: '
        '.spec.template.spec.containers[name="web"].image'
    )


def test_force_takes_ownership():
    created = _apply(None, SMALL)
    change = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }
    forced = _apply(created, change, manager="kubectl", force=True, now=T1)
    assert forced["spec"]["replicas"] == 5
    fields = {e["manager"]: e["fieldsV1"] for e in forced["metadata"]["managedFields"]}
    assert fields["kubectl"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields["reconciler"]["f:spec"]
    # The original applier now conflicts in its turn.
    with pytest.raises(ApplyConflict):
        _apply(forced, SMALL, now=T2)


def test_same_value_from_two_appliers_is_shared():
    created = _apply(None, SMALL)
    same = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2},
    }
    shared = _apply(created, same, manager="kubectl", now=T1)
    assert _managers(shared) == [("reconciler", "Apply"), ("kubectl", "Apply")]
    fields = {e["manager"]: e["fieldsV1"] for e in shared["metadata"]["managedFields"]}
    assert "f:replicas" in fields["reconciler"]["f:spec"]
    assert fields["kubectl"] == {"f:spec": {"f:replicas": {}}}
    # Dropped by one owner, the shared field stays.
    without = copy.deepcopy(SMALL)
    del without["spec"]["replicas"]
    assert _apply(shared, without, now=T2)["spec"]["replicas"] == 2


def test_dropping_a_field_from_the_configuration_removes_it():
    created = _apply(None, SMALL)
    smaller = copy.deepcopy(SMALL)
    del smaller["metadata"]["labels"]
    del smaller["spec"]["replicas"]
    result = _apply(created, smaller, now=T1)
    assert "labels" not in result["metadata"]
    assert "replicas" not in result["spec"]
    assert result["metadata"]["managedFields"][0]["time"] == T1


def test_fields_set_by_others_survive_an_apply():
    created = _apply(None, SMALL)
    scaled = copy.deepcopy(created)
    scaled["metadata"]["annotations"] = {"note": "kept"}
    scaled["metadata"]["managedFields"] = record_update(
        created, scaled, "kubectl-annotate", T1, None, KEYS
    )
    result = _apply(scaled, SMALL, now=T2)
    assert result["metadata"]["annotations"] == {"note": "kept"}
    assert _managers(result) == [("reconciler", "Apply"), ("kubectl-annotate", "Update")]


def test_env_and_containers_merge_by_name():
    created = _apply(None, SMALL)
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "env": [{"name": "EXTRA", "value": "1"}]},
                        {"name": "proxy", "image": "envoy:1"},
                    ]
                }
            }
        },
    }
    merged = _apply(created, sidecar, manager="mesh", now=T1)
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "proxy"]
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["env"] == [
        {"name": "MODE", "value": "fast"},
        {"name": "EXTRA", "value": "1"},
    ]
    # The first applier drops its env entry: only its own item goes, the other manager's stays.
    no_env = copy.deepcopy(SMALL)
    del no_env["spec"]["template"]["spec"]["containers"][0]["env"]
    result = _apply(merged, no_env, now=T2)
    assert result["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "EXTRA", "value": "1"}
    ]
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["web", "proxy"]


def test_fields_unknown_to_the_schema_are_not_owned():
    sloppy = copy.deepcopy(SMALL)
    sloppy["spec"]["replica"] = 3
    fields = _apply(None, sloppy)["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == GOLDEN_APPLY["fieldsV1"]


def test_atomic_lists_are_replaced():
    with_args = copy.deepcopy(SMALL)
    with_args["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--b"]
    created = _apply(None, with_args)
    with_args["spec"]["template"]["spec"]["containers"][0]["args"] = ["--c"]
    result = _apply(created, with_args, now=T1)
    assert result["spec"]["template"]["spec"]["containers"][0]["args"] == ["--c"]


def test_updates_take_changed_fields_from_other_managers():
    created = _apply(None, SMALL)
    scaled = copy.deepcopy(created)
    scaled["spec"]["replicas"] = 4
    entries = record_update(created, scaled, "hpa", T1, None, KEYS)
    fields = {e["manager"]: e["fieldsV1"] for e in entries}
    assert fields["hpa"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields["reconciler"]["f:spec"]
    assert [e["manager"] for e in entries] == ["reconciler", "hpa"]


def test_status_updates_are_recorded_separately():
    created = _apply(None, SMALL)
    with_status = copy.deepcopy(created)
    with_status["status"] = {"replicas": 2, "readyReplicas": 2}
    entries = record_update(created, with_status, "controller", T1, "status", KEYS)
    status = [e for e in entries if e.get("subresource") == "status"]
    assert status == [
        {
            "manager": "controller",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}},
            "subresource": "status",
        }
    ]


def test_list_keys_for_builtins_and_crds():
    assert KEYS.keys("spec.template.spec.containers") == ("name",)
    assert KEYS.keys("spec.template.spec.containers.ports") == ("containerPort", "protocol")
    assert KEYS.keys("spec.template.spec.tolerations") is None
    assert list_keys_for("v1", "Service").keys("spec.ports") == ("port", "protocol")
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "workers": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["role"],
                        "items": {"type": "object", "properties": {"role": {"type": "string"}}},
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            }
        },
    }
    keys = list_keys_for("example.com/v1", "Thing", schema)
    assert keys.keys("spec.workers") == ("role",)
    assert keys.keys("spec.tags") is None
