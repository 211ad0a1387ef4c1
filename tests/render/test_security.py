"""Every rendered pod runs with the secure defaults; a spec opts out one field at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.render import render, run_hash, spec_hash, step_hashes
from reconciler.specs.models import SPEC_ADAPTER
from tests.render.support import (
    context,
    loaded,
    model_deployment,
    pipeline,
    training_job,
    validate,
)
from tests.render.test_identity import BASE_TRAINING

SRV = "ghcr.io/acme/srv:1"
CANARY = {"model": {"uri": "s3://models/m/2/"}, "trafficPercent": 20}

SECURE_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# Every workload shape the renderer has, with (pod spec, containers) found by ``_pods``.
WORKLOADS: dict[str, Any] = {
    "deployment": lambda **s: model_deployment(image=SRV, replicas=2, **s),
    "deployment-canary": lambda **s: model_deployment(image=SRV, canary=CANARY, **s),
    "kserve-model": lambda **s: model_deployment(runtime="kserve", format="sklearn", **s),
    "kserve-custom": lambda **s: model_deployment(
        runtime="kserve", format="custom", image=SRV, **s
    ),
    "seldon-prepackaged": lambda **s: model_deployment(
        runtime="seldon", format="sklearn", canary=CANARY, **s
    ),
    "seldon-custom": lambda **s: model_deployment(
        runtime="seldon", format="custom", image=SRV, **s
    ),
    "job": lambda **s: training_job(**s),
    "pytorchjob": lambda **s: training_job(backend="pytorchjob", workers=3, **s),
    "rayjob": lambda **s: training_job(backend="rayjob", workers=2, **s),
    "pipeline": lambda **s: pipeline(
        steps=[
            {"name": "prepare", "image": "ghcr.io/acme/p:1", **s},
            {"name": "train", "image": "ghcr.io/acme/p:1", "dependsOn": ["prepare"], **s},
        ]
    ),
}


def _pods(manifest: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(the object holding pod-level fields, the containers) of every pod a manifest makes."""
    kind, spec = manifest["kind"], manifest["spec"]
    if kind in ("Deployment", "Job"):
        pod = spec["template"]["spec"]
        yield pod, pod["containers"]
    elif kind == "PyTorchJob":
        for replica in spec["pytorchReplicaSpecs"].values():
            pod = replica["template"]["spec"]
            yield pod, pod["containers"]
    elif kind == "RayJob":
        cluster = spec["rayClusterSpec"]
        groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
        for group in groups:
            pod = group["template"]["spec"]
            yield pod, pod["containers"]
    elif kind == "InferenceService":
        predictor = spec["predictor"]
        yield predictor, predictor.get("containers") or [predictor["model"]]
    elif kind == "SeldonDeployment":
        for predictor in spec["predictors"]:
            for component in predictor["componentSpecs"]:
                yield component["spec"], component["spec"]["containers"]


def _rendered(case: str, security: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    if security is None:
        doc = WORKLOADS[case]()
    elif case == "pipeline":
        doc = WORKLOADS[case](security=security)
    else:
        doc = WORKLOADS[case]()
        doc["spec"]["security"] = security
    spec = loaded(doc)
    return render(spec, context(spec))


def _all_pods(case: str, security: dict[str, Any] | None = None) -> list[tuple[dict, list]]:
    pods = [pod for manifest in _rendered(case, security) for pod in _pods(manifest)]
    assert pods, f"{case} rendered no pod"
    return pods


@pytest.mark.parametrize("case", WORKLOADS)
def test_every_pod_is_secure_by_default(case: str) -> None:
    for pod, containers in _all_pods(case):
        assert pod["automountServiceAccountToken"] is False
        for container in containers:
            assert container["securityContext"] == SECURE_CONTAINER


# One row per opt-out: (security block, expected pod-level token, expected container context).
OPT_OUTS = [
    (
        "allowPrivilegeEscalation",
        {"allowPrivilegeEscalation": True},
        False,
        {**SECURE_CONTAINER, "allowPrivilegeEscalation": True},
    ),
    (
        "capabilities",
        {"capabilities": ["SYS_PTRACE", "NET_ADMIN"]},
        False,
        {**SECURE_CONTAINER, "capabilities": {"add": ["SYS_PTRACE", "NET_ADMIN"], "drop": ["ALL"]}},
    ),
    (
        "seccompProfile",
        {"seccompProfile": "Unconfined"},
        False,
        {**SECURE_CONTAINER, "seccompProfile": {"type": "Unconfined"}},
    ),
    ("serviceAccountToken", {"serviceAccountToken": True}, True, SECURE_CONTAINER),
    ("runAsNonRoot", {"runAsNonRoot": True}, False, {**SECURE_CONTAINER, "runAsNonRoot": True}),
    ("empty block", {}, False, SECURE_CONTAINER),
]


@pytest.mark.parametrize("case", WORKLOADS)
@pytest.mark.parametrize(
    ("security", "token", "context_"), [row[1:] for row in OPT_OUTS], ids=[r[0] for r in OPT_OUTS]
)
def test_each_opt_out_changes_only_its_field(
    case: str, security: dict, token: bool, context_: dict
) -> None:
    manifests = _rendered(case, security)
    for manifest in manifests:
        for pod, containers in _pods(manifest):
            assert pod["automountServiceAccountToken"] is token
            for container in containers:
                assert container["securityContext"] == context_
        # The opt-outs stay inside what the API server and the operators' CRDs accept.
        validate(manifest)


BAD = [
    ({"capabilities": ["CAP_SYS_PTRACE"]}, "without the CAP_ prefix"),
    ({"capabilities": ["sys_ptrace"]}, "is not a Linux capability name"),
    ({"capabilities": ["ALL"]}, "is not a Linux capability name"),
    ({"capabilities": ["NET_ADMIN", "NET_ADMIN"]}, "listed twice"),
    ({"seccompProfile": "Localhost"}, "RuntimeDefault"),
    ({"allowPrivilegeEscalation": "yes"}, "valid boolean"),
    ({"privileged": True}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("security", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_opt_outs_are_refused(security: dict, message: str) -> None:
    doc = training_job()
    doc["spec"]["security"] = security
    with pytest.raises(ValidationError, match=message):
        SPEC_ADAPTER.validate_python(doc)


def test_existing_runs_keep_their_hashes() -> None:
    """Run and step hashes computed before the security field existed: no training run or
    pipeline step is re-created by it."""
    training = SPEC_ADAPTER.validate_python(copy.deepcopy(BASE_TRAINING))
    flow = pipeline()
    flow["metadata"]["namespace"] = "ml-team"
    assert run_hash(training) == "ff961173"
    assert step_hashes(SPEC_ADAPTER.validate_python(flow)) == {
        "prepare": "66b9b232",
        "train": "6563cbb9",
        "evaluate": "537c10a3",
    }


def test_an_absent_security_block_is_not_part_of_the_spec_hash() -> None:
    plain = SPEC_ADAPTER.validate_python(copy.deepcopy(BASE_TRAINING))
    assert "security" not in plain.model_dump(by_alias=True)["spec"]
    doc = copy.deepcopy(BASE_TRAINING)
    doc["spec"]["security"] = {}
    assert spec_hash(SPEC_ADAPTER.validate_python(doc)) != spec_hash(plain)


def test_an_opt_out_is_a_new_run() -> None:
    plain = SPEC_ADAPTER.validate_python(copy.deepcopy(BASE_TRAINING))
    doc = copy.deepcopy(BASE_TRAINING)
    doc["spec"]["security"] = {"capabilities": ["SYS_PTRACE"]}
    opted = SPEC_ADAPTER.validate_python(doc)
    assert run_hash(opted) != run_hash(plain)

    flow = pipeline()
    changed = copy.deepcopy(flow)
    changed["spec"]["steps"][1]["security"] = {"serviceAccountToken": True}
    before = step_hashes(SPEC_ADAPTER.validate_python(flow))
    after = step_hashes(SPEC_ADAPTER.validate_python(changed))
    assert after["prepare"] == before["prepare"]
    assert after["train"] != before["train"]
