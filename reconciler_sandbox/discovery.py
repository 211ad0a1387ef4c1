"""The resource registry and the discovery documents built from it.

Built-in kinds are a fixed table; custom resources join and leave it as their
CustomResourceDefinitions are created and deleted. Discovery answers (``/api``, ``/apis``,
``/api/v1``, ``/apis/{group}/{version}``) have exactly the shapes kubectl and the Python
DynamicClient read: ``preferredVersion`` equal to one of the ``versions`` entries, resources with
``namespaced``, ``verbs``, ``kind``, ``singularName``, ``shortNames`` and ``group/version/kind``
on subresources such as ``deployments/scale``.

Emulated differences: aggregated discovery (``apidiscovery.k8s.io/v2``) is never served; a client
asking for it gets the plain documents, which kubectl and client-go accept.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler_sandbox import errors

SERVER_VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served resource at one group-version."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False
    # Set when the objects live under another resource's key (core v1 Events are a view of
    # events.k8s.io/v1 Events, see ``eventsview``).
    stored_as: tuple[str, str] | None = None
    # A custom resource's openAPIV3Schema for this version (None for built-ins).
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: every version of a resource shares one set of objects."""
        return self.stored_as or (self.group, self.resource)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def path(self, namespace: str | None) -> str:
        prefix = f"/apis/{self.api_version}" if self.group else "/api/v1"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.resource}"
        return f"{prefix}/{self.resource}"


def _t(gv: str, resource: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(group, version, resource, kind, namespaced, kind.lower(), **kw)


BUILTINS: tuple[ResourceType, ...] = (
    _t("v1", "namespaces", "Namespace", False, short_names=("ns",), subresources=("status",)),
    _t("v1", "pods", "Pod", short_names=("po",), subresources=("status",), categories=("all",)),
    _t(
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        subresources=("status",),
        categories=("all",),
    ),
    _t("v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _t("v1", "secrets", "Secret"),
    _t("v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _t("v1", "events", "Event", short_names=("ev",), stored_as=("events.k8s.io", "events")),
    _t("events.k8s.io/v1", "events", "Event", short_names=("ev",)),
    _t(
        "apps/v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    _t("batch/v1", "jobs", "Job", subresources=("status",), categories=("all",)),
    _t(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        subresources=("status",),
        categories=("all",),
    ),
    _t("coordination.k8s.io/v1", "leases", "Lease"),
    _t(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        subresources=("status",),
    ),
    _t("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
)


class Registry:
    """Served resources by group-version; ``revision`` changes whenever the set changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_gv: dict[str, dict[str, ResourceType]] = {}
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its served versions
        self.revision = 0
        for rt in BUILTINS:
            self._by_gv.setdefault(rt.api_version, {})[rt.resource] = rt

    def lookup(self, api_version: str, resource: str) -> ResourceType:
        found = self._by_gv.get(api_version, {}).get(resource)
        if found is None:
            raise errors.path_not_found()
        return found

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self._by_gv.get(api_version, {}).values():
            if rt.kind == kind:
                return rt
        return None

    def served(self, api_version: str) -> bool:
        return api_version in self._by_gv

    def all_types(self) -> list[ResourceType]:
        return [rt for resources in list(self._by_gv.values()) for rt in resources.values()]

    def custom_types(self, crd_name: str) -> list[ResourceType]:
        return list(self._custom.get(crd_name, ()))

    def set_custom(self, crd_name: str, types: list[ResourceType]) -> None:
        """Register (or replace, or with ``[]`` remove) the versions one CRD serves."""
        with self._lock:
            by_gv = {gv: dict(resources) for gv, resources in self._by_gv.items()}
            for old in self._custom.pop(crd_name, []):
                by_gv.get(old.api_version, {}).pop(old.resource, None)
                if not by_gv.get(old.api_version):
                    by_gv.pop(old.api_version, None)
            for rt in types:
                by_gv.setdefault(rt.api_version, {})[rt.resource] = rt
            if types:
                self._custom[crd_name] = list(types)
            # Readers never lock: they see either the old or the new mapping, never a half.
            self._by_gv = by_gv
            self.revision += 1

    # Discovery documents -------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Group name -> versions, preferred first (built-in order, then CRD declaration)."""
        out: dict[str, list[str]] = {}
        for gv in self._by_gv:
            if "/" in gv:
                group, version = gv.split("/", 1)
                out.setdefault(group, []).append(version)
        return {g: sorted(vs, key=_version_priority) for g, vs in out.items()}

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }

    def api_group(self, group: str) -> dict[str, Any]:
        versions = self.groups().get(group)
        if not versions:
            raise errors.path_not_found()
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": dict(entries[0]),
        }

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(name) for name in self.groups()]
        for group in groups:
            del group["kind"], group["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, api_version: str) -> dict[str, Any]:
        resources = self._by_gv.get(api_version)
        if not resources:
            raise errors.path_not_found()
        entries: list[dict[str, Any]] = []
        for rt in resources.values():
            entry: dict[str, Any] = {
                "name": rt.resource,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(VERBS),
                "storageVersionHash": _hash(f"{rt.group}/{rt.version}/{rt.kind}"),
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            entries.append(entry)
            for sub in rt.subresources:
                sub_entry: dict[str, Any] = {
                    "name": f"{rt.resource}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
                if sub == "scale":
                    sub_entry.update(group="autoscaling", version="v1", kind="Scale")
                entries.append(sub_entry)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": api_version,
            "resources": entries,
        }


def _hash(text: str) -> str:
    """kube-apiserver's storageVersionHash: the first 8 bytes of sha256("group/version/kind")."""
    return base64.b64encode(hashlib.sha256(text.encode()).digest()[:8]).decode()


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version order: GA > beta > alpha, higher numbers first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    stage = {"": 0, "beta": 1, "alpha": 2}[match[2] or ""]
    return (stage, -int(match[1]), -int(match[3] or 0))
