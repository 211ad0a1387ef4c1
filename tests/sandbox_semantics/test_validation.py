"""Validation: unknown fields by fieldValidation mode, schema causes, semantic rules, CRDs."""

from __future__ import annotations

import copy

import pytest

from reconciler_sandbox.defaults import default_object
from reconciler_sandbox.validation import InvalidObject, Validator


def _causes(error: InvalidObject) -> list[tuple[str, str]]:
    return [(c.field, c.reason) for c in error.causes]


def test_a_rendered_deployment_is_valid_and_unchanged(builtin_validator, deployment):
    defaulted = default_object(deployment)
    result = builtin_validator.validate(defaulted, "Strict")
    assert result.obj == defaulted
    assert result.warnings == []


@pytest.mark.parametrize(
    ("mode", "warnings"),
    [
        (
            "Warn",
            ['unknown field "spec.template.spec.containers[0].foo"', 'unknown field "spec.bar"'],
        ),
        ("Ignore", []),
    ],
)
def test_unknown_fields_are_dropped(builtin_validator, deployment, mode, warnings):
    deployment["spec"]["template"]["spec"]["containers"][0]["foo"] = 1
    deployment["spec"]["bar"] = {"x": 1}
    result = builtin_validator.validate(deployment, mode)
    assert result.warnings == warnings
    assert "bar" not in result.obj["spec"]
    assert "foo" not in result.obj["spec"]["template"]["spec"]["containers"][0]


def test_unknown_fields_in_strict_mode_are_a_bad_request(builtin_validator, deployment):
    deployment["spec"]["foo"] = 1
    deployment["metadata"]["bar"] = 2
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(deployment, "Strict")
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert caught.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: '
        'strict decoding error: unknown field "metadata.bar", unknown field "spec.foo"'
    )


def test_type_errors_and_required_fields_name_their_paths(builtin_validator, deployment):
    deployment["spec"]["replicas"] = "two"
    del deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(deployment, "Strict")
    error = caught.value
    assert error.code == 422 and error.reason == "Invalid"
    assert _causes(error) == [
        ("spec.replicas", "FieldValueTypeInvalid"),
        ("spec.template.spec.containers[0].ports[0].containerPort", "FieldValueTypeInvalid"),
        ("spec.template.spec.containers[0].image", "FieldValueRequired"),
    ]
    assert error.message.startswith(
        'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: '
    )
    assert error.details["causes"][2] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.template.spec.containers[0].image",
    }


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda d: d["metadata"].update(name="Web_1"), "metadata.name", "FieldValueInvalid"),
        (
            lambda d: d["metadata"]["labels"].update({"bad key!": "x"}),
            "metadata.labels",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["metadata"]["labels"].update(ok="v" * 64),
            "metadata.labels",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["metadata"]["annotations"].update(big="x" * 262144),
            "metadata.annotations",
            "FieldValueTooLong",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(name="Server"),
            "spec.template.spec.containers[0].name",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
                name="http--x"
            ),
            "spec.template.spec.containers[0].ports[0].name",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["spec"]["template"]["metadata"]["labels"].update(
                {"mlops/spec-name": "other"}
            ),
            "spec.template.metadata.labels",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"][
                "requests"
            ].update(cpu="2"),
            "spec.template.spec.containers[0].resources.requests[cpu]",
            "FieldValueInvalid",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].pop(
                "nvidia.com/gpu"
            ),
            "spec.template.spec.containers[0].resources.limits",
            "FieldValueRequired",
        ),
        (
            lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Never"),
            "spec.template.spec.restartPolicy",
            "FieldValueNotSupported",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                cpu="lots"
            ),
            "spec.template.spec.containers[0].resources.limits[cpu]",
            "FieldValueInvalid",
        ),
    ],
)
def test_semantic_rules(builtin_validator, deployment, change, field, reason):
    change(deployment)
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(deployment, "Strict")
    assert _causes(caught.value) == [(field, reason)]


def test_annotation_size_message(builtin_validator, deployment):
    deployment["metadata"]["annotations"]["big"] = "x" * 262144
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(deployment, "Strict")
    assert caught.value.message == (
        'Deployment.apps "web" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    )


def test_service_names_are_dns1035_labels(builtin_validator):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "1web"},
        "spec": {"ports": [{"port": 80}, {"port": 81, "name": "metrics"}]},
    }
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(service, "Strict")
    assert _causes(caught.value) == [
        ("metadata.name", "FieldValueInvalid"),
        ("spec.ports[0].name", "FieldValueRequired"),
    ]
    assert "a DNS-1035 label must consist of" in caught.value.causes[0].message


def test_job_restart_policy_must_not_be_always(builtin_validator):
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train"},
        "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
    }
    with pytest.raises(InvalidObject) as caught:
        builtin_validator.validate(default_object(job), "Strict")
    assert caught.value.causes[0].message == (
        'Unsupported value: "Always": supported values: "OnFailure", "Never"'
    )


def test_unknown_kubernetes_version_is_refused():
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes 0\.1\.0"):
        Validator("0.1.0")


INFERENCE_SERVICE = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris", "namespace": "ml", "labels": {"mlops/spec-name": "iris"}},
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "s3://models/iris",
                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
            },
        }
    },
}


def test_a_valid_inference_service(validator):
    result = validator.validate(INFERENCE_SERVICE, "Strict")
    assert result.obj == INFERENCE_SERVICE
    assert result.warnings == []


def test_an_invalid_inference_service(validator):
    isvc = copy.deepcopy(INFERENCE_SERVICE)
    isvc["spec"]["predictor"]["minReplicas"] = "one"
    del isvc["spec"]["predictor"]["model"]["modelFormat"]["name"]
    with pytest.raises(InvalidObject) as caught:
        validator.validate(isvc, "Strict")
    assert _causes(caught.value) == [
        ("spec.predictor.minReplicas", "FieldValueTypeInvalid"),
        ("spec.predictor.model.modelFormat.name", "FieldValueRequired"),
    ]
    assert caught.value.message.startswith(
        'InferenceService.serving.kserve.io "iris" is invalid: [spec.predictor.minReplicas: '
    )


def test_custom_resources_prune_unknown_fields(validator):
    isvc = copy.deepcopy(INFERENCE_SERVICE)
    isvc["spec"]["predictor"]["model"]["flavour"] = "vanilla"
    isvc["metadata"]["colour"] = "red"
    result = validator.validate(isvc, "Ignore")
    assert result.obj == INFERENCE_SERVICE
    assert validator.validate(isvc, "Warn").warnings == [
        'unknown field "metadata.colour"',
        'unknown field "spec.predictor.model.flavour"',
    ]
    with pytest.raises(InvalidObject) as caught:
        validator.validate(isvc, "Strict")
    assert caught.value.code == 400


PYTORCH_JOB = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "train-1a2b3c4d", "namespace": "ml"},
    "spec": {
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "pytorch", "image": "trainer:1"}]}},
            }
        }
    },
}


def test_pytorchjob_gets_its_crd_defaults(validator):
    job = copy.deepcopy(PYTORCH_JOB)
    container = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 23456, "name": "pytorchjob-port"}]
    container["resources"] = {"limits": {"cpu": 2, "memory": "1Gi"}}
    result = validator.validate(job, "Strict")
    served = result.obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][
        0
    ]
    # The schema's default (protocol: TCP) is applied on decode; int-or-string quantities pass.
    assert served["ports"] == [
        {"containerPort": 23456, "name": "pytorchjob-port", "protocol": "TCP"}
    ]
    assert served["resources"] == {"limits": {"cpu": 2, "memory": "1Gi"}}


def test_preserve_unknown_fields_keeps_what_it_holds():
    crd = {
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "free": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                        "closed": {"type": "object"},
                                        "size": {"x-kubernetes-int-or-string": True},
                                        "mode": {
                                            "type": "string",
                                            "default": "fast",
                                            "enum": ["fast", "slow"],
                                        },
                                        "note": {"type": "string", "nullable": True},
                                        "count": {"type": "integer"},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    validator = Validator()
    validator.register_crd(crd)
    thing = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "a"},
        "spec": {
            "free": {"anything": {"nested": [1]}},
            "closed": {"dropped": True},
            "size": "10%",
            "note": None,
            "count": None,
        },
    }
    result = validator.validate(thing, "Ignore")
    assert result.obj["spec"] == {
        "free": {"anything": {"nested": [1]}},
        "closed": {},
        "size": "10%",
        "note": None,
        "mode": "fast",
    }
    thing["spec"]["mode"] = "medium"
    with pytest.raises(InvalidObject) as caught:
        validator.validate(thing, "Ignore")
    assert _causes(caught.value) == [("spec.mode", "FieldValueNotSupported")]
    validator.unregister_crd("things.example.com")
    assert validator.schema("example.com/v1", "Thing") is None


def test_all_upstream_crds_compile(validator, crds):
    for kind, crd in crds.items():
        for version in crd["spec"]["versions"]:
            assert validator.schema(f"{crd['spec']['group']}/{version['name']}", kind) is not None
