"""The one registry of Kubernetes kinds: everything the code knows about a kind, in one entry.

Apply order, health rules, list merge keys, NotInstalled messages, the kinds the engine watches
and manages, the order ``reconciler render`` prints in, and the RBAC verbs deploy/ grants are all
read from ``KINDS``; no other module lists kinds. Adding a kind is adding an entry here
(docs/architecture.md, "Adding a backend").

Pure data: it imports nothing from the project, so every layer (plan, health, cluster, render
commands) can read it without a cycle. Health rules are named here and defined in
``reconciler.health``, which looks them up by that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# What the reconciler does with a kind it renders: watch (list, watch), look up one object
# before a create the cache cannot answer (get), apply (patch, and create for an apply that
# creates) and prune (delete). Server-side apply is a PATCH that the API server also authorizes
# as create when the object does not exist yet.
MANAGED = ("get", "list", "watch", "patch", "create", "delete")
# Pods of training runs are only read: their termination messages carry the run's metrics.
WATCHED = ("list", "watch")
# Events are only reported: created, and patched when a repeat extends an Event's series.
RECORDED = ("create", "patch")

# Lists Kubernetes merges by a key (their listMapKeys) in every pod template: a kind whose
# manifests hold pods merges these too.
POD_LIST_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "containers": "name",
        "initContainers": "name",
        "ephemeralContainers": "name",
        "env": "name",
        "volumes": "name",
        "imagePullSecrets": "name",
        # One volume may be mounted at two paths (with subPath), so the path is the unique key.
        "volumeMounts": "mountPath",
        "conditions": "type",
    }
)


@dataclass(frozen=True)
class KindInfo:
    """One kind. Its position in ``KINDS`` is its apply rank."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    health: str | None = None
    """Name of its rule in ``reconciler.health``; None: the generic kstatus reading."""
    list_keys: Mapping[str, str] = field(default_factory=dict)
    """Field name -> the key its list items merge by (beyond the pod template's)."""
    installed_by: str | None = None
    """The project whose CRD serves it, for "<project> is not installed" messages."""
    verbs: tuple[str, ...] = ()
    """What the reconciler's ClusterRole grants on it; () for kinds it never touches."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def managed(self) -> bool:
        """Rendered, applied and pruned by the reconciler."""
        return self.verbs == MANAGED


def _crd(group: str, version: str, kind: str, project: str, **fields) -> KindInfo:
    return KindInfo(group, version, kind, kind.lower() + "s", installed_by=project, **fields)


# The apply order: what another object refers to exists first (namespaces, then what pods mount
# or run as, and Services, which a pod finds through the environment it starts with), then
# training runs (a ModelDeployment may serve what they produce), then serving, where a
# Deployment precedes the HorizontalPodAutoscaler whose scale target it is. Services go before
# every pod-making kind, as Helm and kustomize order them, also for speed: a real API server's
# Service apply (which allocates a cluster IP) gets several times slower while new pods load it,
# and more applies in flight do not help (bench/README.md). Pruning walks the same order
# backwards, so a namespace goes last, after its contents.
KINDS: tuple[KindInfo, ...] = (
    # cluster scaffolding
    KindInfo(
        "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
    ),
    KindInfo("", "v1", "Namespace", "namespaces", False, verbs=("get", "create")),
    KindInfo("", "v1", "ResourceQuota", "resourcequotas"),
    KindInfo("", "v1", "LimitRange", "limitranges"),
    KindInfo("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False),
    # what pods mount or run as
    KindInfo("", "v1", "ServiceAccount", "serviceaccounts"),
    KindInfo("", "v1", "Secret", "secrets"),
    KindInfo("", "v1", "ConfigMap", "configmaps"),
    KindInfo("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    KindInfo("", "v1", "Service", "services", health="service", verbs=MANAGED),
    # training
    KindInfo("batch", "v1", "Job", "jobs", health="job", list_keys=POD_LIST_KEYS, verbs=MANAGED),
    _crd(
        "kubeflow.org",
        "v1",
        "PyTorchJob",
        "kubeflow training-operator",
        health="pytorch_job",
        list_keys=POD_LIST_KEYS,
        verbs=MANAGED,
    ),
    _crd(
        "ray.io",
        "v1",
        "RayJob",
        "kuberay",
        health="ray_job",
        list_keys={**POD_LIST_KEYS, "workerGroupSpecs": "groupName"},
        verbs=MANAGED,
    ),
    _crd(
        "trainer.kubeflow.org",
        "v1alpha1",
        "TrainJob",
        "kubeflow trainer",
        health="train_job",
        list_keys={**POD_LIST_KEYS, "runtimePatches": "manager", "replicatedJobs": "name"},
        verbs=MANAGED,
    ),
    # serving
    KindInfo(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        health="deployment",
        list_keys=POD_LIST_KEYS,
        verbs=MANAGED,
    ),
    KindInfo(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        health="hpa",
        verbs=MANAGED,
    ),
    KindInfo("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    _crd(
        "serving.kserve.io",
        "v1beta1",
        "InferenceService",
        "kserve",
        health="inference_service",
        list_keys=POD_LIST_KEYS,
        verbs=MANAGED,
    ),
    _crd(
        "machinelearning.seldon.io",
        "v1",
        "SeldonDeployment",
        "seldon",
        health="seldon_deployment",
        list_keys=POD_LIST_KEYS,
        verbs=MANAGED,
    ),
    # read, never written: after every kind that is applied
    KindInfo("", "v1", "Pod", "pods", health="pod", list_keys=POD_LIST_KEYS, verbs=WATCHED),
    _crd(
        "serving.kserve.io",
        "v1alpha1",
        "LLMInferenceService",
        "kserve",
        health="llm_inference_service",
    ),
    # reported on the objects above (reconciler.cluster.events), never applied
    KindInfo("events.k8s.io", "v1", "Event", "events", verbs=RECORDED),
)

_BY_GROUP_KIND = {(info.group, info.kind): info for info in KINDS}
_RANK = {(info.group, info.kind): position for position, info in enumerate(KINDS)}
UNKNOWN_RANK = len(KINDS)


def lookup(group: str, kind: str) -> KindInfo | None:
    return _BY_GROUP_KIND.get((group, kind))


def rank(group: str, kind: str) -> int:
    """Position in apply order; kinds outside the registry come last."""
    return _RANK.get((group, kind), UNKNOWN_RANK)


def managed() -> tuple[tuple[str, str], ...]:
    """(apiVersion, kind) of every kind the reconciler applies and prunes, in apply order."""
    return tuple((info.api_version, info.kind) for info in KINDS if info.managed)


def installed_by() -> dict[str, str]:
    """API group -> the project whose CRDs serve it."""
    return {info.group: info.installed_by for info in KINDS if info.installed_by}


def list_keys(kinds: Iterable[KindInfo] = KINDS) -> dict[str, str]:
    """Field name -> merge key over ``kinds``. Diffs read lists by field name whatever the kind,
    so two kinds must agree on a field's key (tests/test_kinds.py checks it)."""
    merged: dict[str, str] = {}
    for info in kinds:
        merged.update(info.list_keys)
    return merged
