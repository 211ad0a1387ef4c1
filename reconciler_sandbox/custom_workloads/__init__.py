"""Simulated operators for the custom resources the renderer emits: KServe, Seldon Core v1,
the Kubeflow training operator, Kubeflow Trainer v2 and KubeRay. Each reacts to events of its kind only, so a sandbox
without the CRDs simply never wakes them."""

from __future__ import annotations

from reconciler_sandbox.controllers import Controller
from reconciler_sandbox.custom_workloads.kserve import InferenceServiceController
from reconciler_sandbox.custom_workloads.pytorchjob import PyTorchJobController
from reconciler_sandbox.custom_workloads.rayjob import RayJobController
from reconciler_sandbox.custom_workloads.seldon import SeldonDeploymentController
from reconciler_sandbox.custom_workloads.trainjob import TrainJobController


def custom_controllers() -> list[Controller]:
    """Fresh controllers for one sandbox (the KServe one keeps that sandbox's revisions)."""
    return [
        InferenceServiceController(),
        SeldonDeploymentController(),
        PyTorchJobController(),
        RayJobController(),
        TrainJobController(),
    ]
