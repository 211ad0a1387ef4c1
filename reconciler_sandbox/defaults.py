"""Defaulting and canonical form of built-in kinds, as kube-apiserver 1.33 applies them.

Emulated (everything else is returned as sent):

- every PodSpec (Pod, and the templates of Deployment, Job, CronJob's job template):
  restartPolicy Always, terminationGracePeriodSeconds 30, dnsPolicy ClusterFirst,
  schedulerName default-scheduler, securityContext {};
  volumes: configMap/secret/projected/downwardAPI defaultMode 420, hostPath type "";
- every container and initContainer: terminationMessagePath /dev/termination-log,
  terminationMessagePolicy File, imagePullPolicy (Always for a ``:latest`` or untagged image,
  IfNotPresent otherwise; a digest counts as a tag), resources {}, ports protocol TCP,
  env valueFrom.fieldRef apiVersion v1, env valueFrom.resourceFieldRef divisor "0",
  probes (liveness, readiness, startup): timeoutSeconds 1, periodSeconds 10,
  successThreshold 1, failureThreshold 3, httpGet scheme HTTP;
- resource quantities in canonical form (reconciler.quantity.canonical): container
  requests/limits of every resource name (``nvidia.com/gpu`` included), emptyDir sizeLimit;
- Pod only: enableServiceLinks true; a container with limits but no request for a resource
  gets a request equal to the limit;
- Deployment: replicas 1, strategy RollingUpdate with maxSurge 25% and maxUnavailable 25%,
  revisionHistoryLimit 10, progressDeadlineSeconds 600;
- Job: parallelism 1 (and completions 1 when neither is set), backoffLimit 6 (2147483647 with
  backoffLimitPerIndex), completionMode NonIndexed, suspend false, podReplacementPolicy
  TerminatingOrFailed (Failed with a podFailurePolicy), metadata.labels copied from the
  template's when empty; the selector and the controller-uid/job-name template labels need the
  uid, see ``default_job_identity``, which also sets manualSelector false and gives a Job
  labelled by its template the uid labels too, as kube-apiserver 1.37 does;
- CronJob: concurrencyPolicy Allow, suspend false, successfulJobsHistoryLimit 3,
  failedJobsHistoryLimit 1, plus the Job defaults of its jobTemplate;
- Service: type ClusterIP, sessionAffinity None, ports protocol TCP and targetPort = port,
  ipFamilies [IPv4] with ipFamilyPolicy SingleStack, internalTrafficPolicy Cluster,
  externalTrafficPolicy Cluster for NodePort/LoadBalancer, allocateLoadBalancerNodePorts true
  for LoadBalancer; clusterIP allocation is ``assign_cluster_ip``;
- HorizontalPodAutoscaler (autoscaling/v2): minReplicas 1;
- Namespace: label kubernetes.io/metadata.name, spec.finalizers [kubernetes], status.phase Active;
- Secret: type Opaque.

``generation_changed`` and ``has_generation`` give the metadata.generation rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from reconciler.quantity import QuantityError, canonical
from reconciler_sandbox.structural import clone

Obj = dict[str, Any]

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"

# 10.96.0.0/12 is kubeadm's default service range; .1 belongs to the "kubernetes" Service.
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
_FIRST_ALLOCATABLE = 10
_MAX_INT32 = 2**31 - 1
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_MODE_VOLUMES = ("configMap", "secret", "projected", "downwardAPI")


def default_object(obj: Obj) -> Obj:
    """A new object with the server's defaults applied; unknown kinds come back as a copy."""
    result = clone(obj)
    fill = _BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
    if fill is None:
        return result
    try:
        fill(result)
    except (AttributeError, TypeError):
        # A wrongly typed field (a string where an object belongs): validation reports it.
        return clone(obj)
    return result


def default_job_identity(job: Obj, uid: str) -> Obj:
    """The Job with the selector and template labels the server derives from its uid."""
    result = clone(job)
    spec = result.setdefault("spec", {})
    if spec.get("manualSelector") is True:
        return result
    spec["manualSelector"] = False
    spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
    labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
    meta = result.setdefault("metadata", {})
    # Defaulting gave an unlabelled Job its template's label map itself (Go aliases it), so the
    # uid labels added to the template show on the Job too.
    shared = not meta.get("labels") or meta["labels"] == labels
    name = meta.get("name", "")
    labels.update(
        {
            JOB_UID_LABEL: uid,
            JOB_NAME_LABEL: name,
            LEGACY_JOB_UID_LABEL: uid,
            LEGACY_JOB_NAME_LABEL: name,
        }
    )
    if shared:
        meta["labels"] = dict(labels)
    return result


def allocate_cluster_ip(used: set[str]) -> str:
    """The lowest free address of the service range, so runs are reproducible."""
    for offset in range(_FIRST_ALLOCATABLE, SERVICE_CIDR.num_addresses - 1):
        candidate = str(SERVICE_CIDR.network_address + offset)
        if candidate not in used:
            return candidate
    raise RuntimeError(f"service IP range {SERVICE_CIDR} is exhausted")


def assign_cluster_ip(service: Obj, used: set[str]) -> Obj:
    """The Service with clusterIP/clusterIPs filled in as on create (headless stays None)."""
    result = clone(service)
    spec = result.setdefault("spec", {})
    if spec.get("type") == "ExternalName":
        return result
    ip = spec.get("clusterIP") or allocate_cluster_ip(used)
    spec["clusterIP"] = ip
    spec.setdefault("clusterIPs", [ip])
    return result


def has_generation(api_version: str, kind: str) -> bool:
    """Whether the server maintains metadata.generation for this kind."""
    if (api_version, kind) in _BUILTIN_WITH_GENERATION:
        return True
    return not _is_builtin_group(api_version)


def generation_changed(old: Obj, new: Obj) -> bool:
    """Whether an update from ``old`` to ``new`` increments metadata.generation."""
    api_version, kind = new.get("apiVersion", ""), new.get("kind", "")
    if (api_version, kind) == ("apps/v1", "Deployment"):
        # The Deployment strategy also counts annotations (the old rollback annotation path).
        return old.get("spec") != new.get("spec") or old.get("metadata", {}).get(
            "annotations"
        ) != new.get("metadata", {}).get("annotations")
    if (api_version, kind) in _BUILTIN_WITH_GENERATION:
        return old.get("spec") != new.get("spec")
    if _is_builtin_group(api_version):
        return False
    ignored = {"metadata", "status", "apiVersion", "kind"}
    return {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }


_BUILTIN_WITH_GENERATION = {
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
}

_BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "certificates.k8s.io",
    "admissionregistration.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
}


def _is_builtin_group(api_version: str) -> bool:
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return group in _BUILTIN_GROUPS


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_template(spec)


def _job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    _job_spec(spec)
    template_labels = spec.get("template", {}).get("metadata", {}).get("labels")
    metadata = obj.setdefault("metadata", {})
    if template_labels and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)


def _job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if "backoffLimit" not in spec:
        spec["backoffLimit"] = _MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy",
        "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed",
    )
    _pod_template(spec)


def _cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _job_spec(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    _pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    for container in _containers(spec):
        resources = container["resources"]
        limits = resources.get("limits") if isinstance(resources, dict) else None
        if isinstance(limits, dict) and limits:
            requests = resources.setdefault("requests", {})
            for name, value in limits.items():
                requests.setdefault(name, value)


def _pod_template(spec: Obj) -> None:
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in _containers(spec):
        _container(container)
    for volume in _dicts(spec.get("volumes")):
        _volume(volume)


def _containers(spec: Obj) -> list[Obj]:
    return [c for key in ("initContainers", "containers") for c in _dicts(spec.get(key))]


def _dicts(items: Any) -> list[Obj]:
    # Malformed input is defaulted where it can be and left for validation to report.
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _container(container: Obj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = container.get("image")
    container.setdefault("imagePullPolicy", _pull_policy(image if isinstance(image, str) else ""))
    resources = container.setdefault("resources", {})
    if not isinstance(resources, dict):
        return
    for part in ("requests", "limits"):
        values = resources.get(part)
        if isinstance(values, dict):
            resources[part] = {name: _quantity(value) for name, value in values.items()}
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if not isinstance(source, dict):
            continue
        if isinstance(source.get("fieldRef"), dict):
            source["fieldRef"].setdefault("apiVersion", "v1")
        if isinstance(source.get("resourceFieldRef"), dict):
            field = source["resourceFieldRef"]
            field["divisor"] = _quantity(field.get("divisor", "0"))
    for probe_name in _PROBES:
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            _probe(probe)


def _probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    # A colon after the last slash is a tag; one before it is a registry port.
    tag = image.rpartition("/")[2].partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _volume(volume: Obj) -> None:
    for source in _MODE_VOLUMES:
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
        empty_dir["sizeLimit"] = _quantity(empty_dir["sizeLimit"])


def _quantity(value: Any) -> Any:
    # Invalid quantities are left for validation to report with their field path.
    try:
        return canonical(value)
    except QuantityError:
        return value


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    if kind == "ExternalName":
        return
    spec.setdefault("sessionAffinity", "None")
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _hpa(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("minReplicas", 1)


def _namespace(obj: Obj) -> None:
    metadata = obj.setdefault("metadata", {})
    if "name" in metadata:
        metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


_BY_KIND: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("apps/v1", "Deployment"): _deployment,
    ("batch/v1", "Job"): _job,
    ("batch/v1", "CronJob"): _cronjob,
    ("v1", "Pod"): _pod,
    ("v1", "Service"): _service,
    ("v1", "Namespace"): _namespace,
    ("v1", "Secret"): _secret,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): _hpa,
}
