"""Which kinds the cluster serves, and the REST path of each object.

Discovery is read once at start and again only when a kind is asked for that was not served
before (a CRD installed later), at most once per ``refresh_interval``: a reconcile never pays for
discovery requests when nothing changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from reconciler.cluster.client import KubeClient
from reconciler.errors import ApiError

log = structlog.get_logger(__name__)

# The custom resources the renderer emits, and the project that installs each.
INSTALLED_BY = {
    "serving.kserve.io": "kserve",
    "machinelearning.seldon.io": "seldon",
    "kubeflow.org": "kubeflow training-operator",
    "ray.io": "kuberay",
}


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def collection_path(self, namespace: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"


class NotServed(Exception):
    """The cluster does not serve this kind (its CRD is not installed)."""

    def __init__(self, api_version: str, kind: str) -> None:
        group = api_version.split("/")[0] if "/" in api_version else ""
        project = INSTALLED_BY.get(group)
        prefix = f"{project} is not installed: " if project else ""
        super().__init__(f"{prefix}{kind} ({api_version}) not served by this cluster")


class Discovery:
    def __init__(
        self,
        client: KubeClient,
        refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], Resource] = {}
        self._loaded_at: float | None = None

    def _load(self) -> None:
        resources: dict[tuple[str, str], Resource] = {}
        versions = ["v1"]
        groups = self._client.request("GET", "/apis")
        for group in groups.get("groups", []):
            versions.extend(v["groupVersion"] for v in group.get("versions", []))
        for group_version in versions:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            try:
                listing = self._client.request("GET", path)
            except ApiError as exc:
                log.warning("discovery_failed", group_version=group_version, reason=str(exc))
                continue
            for item in listing.get("resources", []):
                if "/" in item["name"]:
                    continue  # subresources such as deployments/status
                key = (group_version, item["kind"])
                # The first version listed for a group is its preferred one; keep it.
                resources.setdefault(
                    key, Resource(group_version, item["kind"], item["name"], item["namespaced"])
                )
        self._resources = resources
        self._loaded_at = self._clock()
        log.debug("discovery_loaded", kinds=len(resources))

    def resource(self, api_version: str, kind: str) -> Resource:
        """The resource serving this kind; raises NotServed when the cluster lacks it."""
        with self._lock:
            found = self._resources.get((api_version, kind))
            if found is not None:
                return found
            stale = (
                self._loaded_at is None or self._clock() - self._loaded_at >= self._refresh_interval
            )
            if stale:
                self._load()
                found = self._resources.get((api_version, kind))
                if found is not None:
                    return found
        raise NotServed(api_version, kind)

    def served(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
        except NotServed:
            return False
        return True

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None
