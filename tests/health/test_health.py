"""Health rules, one fixture per state per kind (tests/health/fixtures/<kind>-<state>.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.health import Health, Phase, assess, worst

FIXTURES = Path(__file__).parent / "fixtures"

# fixture, phase, reason, message (None: not checked)
CASES = [
    ("deployment-ready", Phase.Ready, "Available", "2/2 replicas ready"),
    ("deployment-scaled-to-zero", Phase.Ready, "ScaledToZero", "scaled to zero"),
    (
        "deployment-not-observed",
        Phase.Progressing,
        "RolloutNotObserved",
        "waiting for rollout to be observed",
    ),
    ("deployment-updating", Phase.Progressing, "Updating", "1 of 3 new replicas updated"),
    (
        "deployment-old-replicas",
        Phase.Progressing,
        "TerminatingOldReplicas",
        "1 old replicas pending termination",
    ),
    (
        "deployment-unavailable",
        Phase.Progressing,
        "WaitingForAvailable",
        "0 of 2 updated replicas available",
    ),
    (
        "deployment-deadline-exceeded",
        Phase.Failed,
        "ProgressDeadlineExceeded",
        'ReplicaSet "fraud-detector-7d9f" has timed out progressing.',
    ),
    ("deployment-paused", Phase.Degraded, "Paused", None),
    ("deployment-deleting", Phase.Progressing, "Deleting", None),
    ("job-complete", Phase.Succeeded, "CompletionsReached", None),
    ("job-success-criteria-met", Phase.Succeeded, "SuccessPolicy", None),
    (
        "job-failed",
        Phase.Failed,
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    ),
    (
        "job-failure-target",
        Phase.Failed,
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    ),
    ("job-running", Phase.Progressing, "Running", "1 pods running"),
    ("job-not-started", Phase.Pending, "NotStarted", None),
    ("job-suspended", Phase.Pending, "Suspended", None),
    ("service-clusterip", Phase.Ready, "Exists", None),
    ("service-loadbalancer-pending", Phase.Progressing, "WaitingForLoadBalancer", None),
    ("service-loadbalancer-ready", Phase.Ready, "Exists", None),
    ("hpa-active", Phase.Ready, "ScalingActive", "2 replicas, 2 desired"),
    ("hpa-scaling-inactive", Phase.Degraded, "FailedGetResourceMetric", None),
    (
        "hpa-v1-annotation-inactive",
        Phase.Degraded,
        "FailedGetResourceMetric",
        "missing request for cpu",
    ),
    ("pod-pending", Phase.Pending, "Pending", None),
    (
        "pod-unschedulable",
        Phase.Pending,
        "Unschedulable",
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    ),
    ("pod-image-pull-backoff", Phase.Degraded, "ImagePullBackOff", None),
    ("pod-running-not-ready", Phase.Progressing, "NotReady", None),
    ("pod-ready", Phase.Ready, "Running", None),
    ("pod-crashloop", Phase.Degraded, "CrashLoopBackOff", None),
    ("pod-succeeded", Phase.Succeeded, "Completed", None),
    ("pod-failed", Phase.Failed, "Evicted", "The node was low on resource: memory."),
    ("pod-unknown", Phase.Degraded, "Unknown", None),
    (
        "inferenceservice-ready",
        Phase.Ready,
        "Ready",
        "serving at http://fraud-detector.ml-team.example.com",
    ),
    ("inferenceservice-progressing", Phase.Progressing, "RevisionMissing", None),
    ("inferenceservice-failed", Phase.Failed, "RevisionFailed", None),
    (
        "inferenceservice-model-load-failed",
        Phase.Failed,
        "ModelLoadFailed",
        "model file not found at s3://models/fraud/v3",
    ),
    ("inferenceservice-no-status", Phase.Progressing, "NotReady", None),
    ("seldondeployment-available", Phase.Ready, "Available", None),
    ("seldondeployment-creating", Phase.Progressing, "Creating", None),
    ("seldondeployment-failed", Phase.Failed, "Failed", "Cannot find field: imagePullPolicy"),
    ("pytorchjob-created", Phase.Pending, "PyTorchJobCreated", None),
    ("pytorchjob-running", Phase.Progressing, "PyTorchJobRunning", None),
    ("pytorchjob-restarting", Phase.Progressing, "PyTorchJobRestarting", None),
    ("pytorchjob-succeeded", Phase.Succeeded, "PyTorchJobSucceeded", None),
    (
        "pytorchjob-failed",
        Phase.Failed,
        "PyTorchJobFailed",
        "PyTorchJob churn-train-1a2b3c4d is failed because 1 Master replica(s) failed.",
    ),
    ("pytorchjob-no-status", Phase.Pending, "NotStarted", None),
    ("rayjob-initializing", Phase.Pending, "Initializing", None),
    ("rayjob-pending", Phase.Pending, "JobPending", None),
    ("rayjob-running", Phase.Progressing, "Running", None),
    ("rayjob-succeeded", Phase.Succeeded, "Succeeded", "Job finished successfully."),
    (
        "rayjob-failed",
        Phase.Failed,
        "Failed",
        "Job entrypoint command failed with exit code 1",
    ),
    ("rayjob-stopped", Phase.Failed, "Stopped", None),
    (
        "rayjob-deployment-failed",
        Phase.Failed,
        "DeadlineExceeded",
        "The RayJob has passed the activeDeadlineSeconds.",
    ),
    ("configmap-exists", Phase.Ready, "Exists", "exists"),
    # Issue 17, one case per finding: a load that failed behind a Ready InferenceService...
    (
        "inferenceservice-blocked-by-failed-load",
        Phase.Degraded,
        "ModelLoadFailed",
        "new model failed to load, the previous one still serves: "
        "Failed to load model: file not found at s3://models/fraud/v3",
    ),
    # ...a stopped one is settled, not on its way...
    ("inferenceservice-stopped", Phase.Pending, "Stopped", "The inference service is stopped"),
    # ...an HPA switched off by a target scaled to zero, and one not read yet...
    (
        "hpa-scaled-to-zero",
        Phase.Ready,
        "ScaledToZero",
        "scaling is disabled since the replica count of the target is zero",
    ),
    ("hpa-no-conditions", Phase.Progressing, "NoConditions", None),
    # ...a crash-looping container between back-offs and as it exits...
    (
        "pod-restarting-after-error",
        Phase.Degraded,
        "Error",
        "model restarted 4 times, last exit code 1 (Error)",
    ),
    (
        "pod-terminated-with-error",
        Phase.Degraded,
        "Error",
        "model restarted 5 times, last exit code 1 (Error)",
    ),
    # ...kinds without a rule, read in the kstatus manner...
    ("custom-resource-not-observed", Phase.Progressing, "ObservedGenerationBehind", None),
    ("custom-resource-stalled", Phase.Failed, "BackendUnreachable", None),
    ("custom-resource-reconciling", Phase.Progressing, "Materializing", None),
    ("custom-resource-ready", Phase.Ready, "Synced", None),
    ("custom-resource-available", Phase.Progressing, "Scaling", "0 of 2 replicas available"),
    ("custom-resource-succeeded", Phase.Succeeded, "Done", None),
    ("custom-resource-failed", Phase.Failed, "SourceMissing", None),
    # ...and a Deployment whose counts look done but which is not Available.
    (
        "deployment-available-false",
        Phase.Progressing,
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    ),
    # Disagreements with the peers' fixtures where they were right (docs/health.md): a
    # failed predictor behind a Ready that names another step...
    (
        "inferenceservice-predictor-failed",
        Phase.Failed,
        "RevisionFailed",
        'Revision "fraud-detector-predictor-00002" failed with message: '
        "Container failed with: exit status 137.",
    ),
    # ...an autoscaler waiting out a back-off, or not yet sure it can scale...
    (
        "hpa-backoff",
        Phase.Progressing,
        "BackoffDownscale",
        "the time since the previous scale is still within the downscale forbidden window",
    ),
    ("hpa-scale-not-read", Phase.Progressing, "WaitingForScale", None),
    # ...a scheduled pod starting its containers, a run-to-completion pod at work...
    ("pod-starting", Phase.Progressing, "ContainerCreating", "model is ContainerCreating"),
    ("pod-running-to-completion", Phase.Progressing, "Running", "pod is running to completion"),
    # ...and a Deployment whose controller reports it cannot progress.
    (
        "deployment-replicaset-create-error",
        Phase.Progressing,
        "ReplicaSetCreateError",
        'pods "fraud-detector-6b7c" is forbidden: exceeded quota: gpu-quota',
    ),
    # KServe LLMInferenceService and Kubeflow Trainer v2 TrainJob.
    (
        "llminferenceservice-ready",
        Phase.Ready,
        "Ready",
        "serving at http://support-llm.ml-team.example.com",
    ),
    (
        "llminferenceservice-not-ready",
        Phase.Progressing,
        "MinimumReplicasUnavailable",
        "WorkloadsReady: Deployment does not have minimum availability.",
    ),
    ("llminferenceservice-stale", Phase.Progressing, "ObservedGenerationBehind", None),
    ("llminferenceservice-bad-config", Phase.Failed, "CombineBaseError", None),
    ("trainjob-created", Phase.Pending, "NotStarted", None),
    ("trainjob-running", Phase.Progressing, "Running", "1 jobs running"),
    ("trainjob-complete", Phase.Succeeded, "JobsCompleted", "TrainJob is completed"),
    ("trainjob-failed", Phase.Failed, "DeadlineExceeded", None),
    ("trainjob-suspended", Phase.Pending, "Suspended", "TrainJob is suspended"),
]


def load(name: str) -> dict:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


@pytest.mark.parametrize(
    ("fixture", "phase", "reason", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_fixture(fixture: str, phase: Phase, reason: str, message: str | None) -> None:
    health = assess(load(fixture))
    assert (health.phase, health.reason) == (phase, reason)
    assert health.message
    if message is not None:
        assert health.message == message


def test_every_fixture_is_in_the_table() -> None:
    on_disk = {path.stem for path in FIXTURES.glob("*.yaml")}
    assert on_disk == {case[0] for case in CASES}


MALFORMED = [
    ("not a mapping", ["a", "list"]),
    ("no kind", {"apiVersion": "apps/v1"}),
    ("status is a string", {"apiVersion": "apps/v1", "kind": "Deployment", "status": "ok"}),
    (
        "conditions is a map",
        {"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": {"type": "Complete"}}},
    ),
    (
        "conditions hold garbage",
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "status": {"conditions": [1, None]},
        },
    ),
    (
        "counts are strings",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"generation": "two"},
            "spec": {"replicas": "many"},
            "status": {"observedGeneration": [], "updatedReplicas": {}},
        },
    ),
    (
        "metadata is a list",
        {"apiVersion": "v1", "kind": "Pod", "metadata": [], "status": {"phase": 7}},
    ),
    (
        "container statuses are strings",
        {"apiVersion": "v1", "kind": "Pod", "status": {"containerStatuses": ["x", {"state": 3}]}},
    ),
    (
        "hpa annotation is not json",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"annotations": {"autoscaling.alpha.kubernetes.io/conditions": "{nope"}},
        },
    ),
    (
        "load balancer is a list",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": []},
        },
    ),
    (
        "ray status values are lists",
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "status": {"jobStatus": [], "jobDeploymentStatus": {}},
        },
    ),
    (
        "seldon state is a map",
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "status": {"state": {}},
        },
    ),
    (
        "kserve model status is a list",
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "status": {"modelStatus": [], "conditions": "Ready"},
        },
    ),
    ("api version is a number", {"apiVersion": 1, "kind": "Deployment"}),
    (
        "train job statuses are strings",
        {
            "apiVersion": "trainer.kubeflow.org/v1alpha1",
            "kind": "TrainJob",
            "status": {"jobsStatus": ["x", {"active": "many"}]},
        },
    ),
    (
        "llm conditions hold garbage",
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "LLMInferenceService",
            "status": {"conditions": [{"type": "Ready"}, 3], "observedGeneration": "1"},
        },
    ),
    (
        "custom resource generation is a string",
        {
            "apiVersion": "example.com/v1",
            "kind": "Thing",
            "metadata": {"generation": "2"},
            "status": {"observedGeneration": 1, "conditions": {"Ready": True}},
        },
    ),
    (
        "pod last state is a list",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "status": {"phase": "Running", "containerStatuses": [{"lastState": []}]},
        },
    ),
]


@pytest.mark.parametrize(("case", "obj"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_status_does_not_crash(case: str, obj: object) -> None:
    health = assess(obj)  # type: ignore[arg-type]
    assert isinstance(health, Health)
    assert health.reason
    assert health.message


def test_garbage_is_progressing_with_a_reason() -> None:
    health = assess(["not", "an", "object"])  # type: ignore[arg-type]
    assert health == Health(Phase.Progressing, "UnreadableObject", "object is not a mapping")


def test_status_the_rules_cannot_read_is_progressing() -> None:
    ray_job = load("rayjob-running")
    ray_job["status"]["jobStatus"] = ["RUNNING"]
    health = assess(ray_job)
    assert (health.phase, health.reason) == (Phase.Progressing, "UnreadableStatus")


def test_object_without_kind_is_progressing() -> None:
    health = assess({"metadata": {"name": "x"}, "status": {}})
    assert (health.phase, health.reason) == (Phase.Progressing, "UnreadableObject")


PHASE_ORDER = [
    Phase.Succeeded,
    Phase.Ready,
    Phase.Progressing,
    Phase.Pending,
    Phase.Degraded,
    Phase.Failed,
]


def test_phase_order_best_to_worst() -> None:
    assert sorted(Phase) == PHASE_ORDER


def test_phase_names_are_the_status_strings() -> None:
    assert [str(phase) for phase in PHASE_ORDER] == [
        "Succeeded",
        "Ready",
        "Progressing",
        "Pending",
        "Degraded",
        "Failed",
    ]
    assert f"{Phase.Degraded}" == "Degraded"
    assert Phase["Pending"] is Phase.Pending


def h(phase: Phase, reason: str = "R") -> Health:
    return Health(phase, reason, reason.lower())


WORST = [
    ("empty", [], Health(Phase.Pending, "NothingToAssess", "nothing to assess")),
    ("one", [h(Phase.Ready)], h(Phase.Ready)),
    ("succeeded and ready", [h(Phase.Succeeded), h(Phase.Ready)], h(Phase.Ready)),
    ("progressing beats ready", [h(Phase.Ready), h(Phase.Progressing)], h(Phase.Progressing)),
    ("pending beats progressing", [h(Phase.Pending), h(Phase.Progressing)], h(Phase.Pending)),
    ("degraded beats pending", [h(Phase.Degraded), h(Phase.Pending)], h(Phase.Degraded)),
    (
        "failed beats all",
        [h(Phase.Ready), h(Phase.Failed), h(Phase.Degraded), h(Phase.Succeeded)],
        h(Phase.Failed),
    ),
    ("first of equals wins", [h(Phase.Failed, "A"), h(Phase.Failed, "B")], h(Phase.Failed, "A")),
]


@pytest.mark.parametrize(("case", "healths", "expected"), WORST, ids=[c[0] for c in WORST])
def test_worst(case: str, healths: list[Health], expected: Health) -> None:
    assert worst(healths) == expected
    assert worst(iter(healths)) == expected
