"""Which kinds the cluster serves, and the REST path of each object.

Discovery is read per group-version, on first use: ``GET /apis/<group>/<version>`` (one request)
answers for every kind of that group-version. A served group-version is trusted until something
says otherwise; one that was not served is asked again at most once per ``refresh_interval``, so a
CRD installed after start is found, and a reconcile never pays for discovery requests when nothing
changed. ``recheck`` asks one group-version again (a 404 for one of its kinds: its CRD may be
gone), and ``refresh`` compares the known group-versions against ``GET /apis`` (one
request) so a CRD installed or deleted later is noticed without asking every group-version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from reconciler.cluster.client import KubeClient
from reconciler.errors import ApiError, NotServed, PermanentApiError

log = structlog.get_logger(__name__)

CORE = "v1"


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def collection_path(self, namespace: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == CORE else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"


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
        # group-version -> its kinds, or None when the cluster does not serve it
        self._versions: dict[str, dict[str, Resource] | None] = {}
        self._checked_at: dict[str, float] = {}

    def _probe_locked(self, group_version: str) -> dict[str, Resource] | None:
        path = "/api/v1" if group_version == CORE else f"/apis/{group_version}"
        try:
            listing = self._client.request("GET", path)
        except PermanentApiError as exc:
            if exc.status != 404:
                raise
            found = None
        else:
            found = {}
            for item in listing.get("resources", []):
                if "/" in item["name"]:
                    continue  # subresources such as deployments/status
                found.setdefault(
                    item["kind"],
                    Resource(group_version, item["kind"], item["name"], item["namespaced"]),
                )
        before = self._versions.get(group_version)
        if (before is None) != (found is None) and group_version in self._versions:
            log.info("discovery_changed", group_version=group_version, served=found is not None)
        self._versions[group_version] = found
        self._checked_at[group_version] = self._clock()
        return found

    def resource(self, api_version: str, kind: str) -> Resource:
        """The resource serving this kind; raises NotServed when the cluster lacks it."""
        with self._lock:
            kinds = self._versions.get(api_version)
            if kinds is None or kind not in kinds:
                checked = self._checked_at.get(api_version)
                if checked is None or self._clock() - checked >= self._refresh_interval:
                    kinds = self._probe_locked(api_version)
            found = (kinds or {}).get(kind)
        if found is None:
            raise NotServed(api_version, kind)
        return found

    def served(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
        except NotServed:
            return False
        return True

    def known(self, api_version: str, kind: str) -> Resource | None:
        """What discovery last said of this kind, without asking the cluster."""
        with self._lock:
            return (self._versions.get(api_version) or {}).get(kind)

    def recheck(self, api_version: str, kind: str) -> Resource | None:
        """Ask the cluster again now: a request for this kind answered 404 (its CRD may be gone)."""
        with self._lock:
            return (self._probe_locked(api_version) or {}).get(kind)

    def not_found(self, api_version: str, kind: str, error: ApiError) -> Exception:
        """What a 404 for a kind means: NotServed when its CRD is gone since, else ``error``."""
        try:
            gone = self.recheck(api_version, kind) is None
        except ApiError:
            return error
        return NotServed(api_version, kind) if gone else error

    def refresh(self) -> None:
        """Ask again about every group-version whose presence in ``GET /apis`` changed.

        One request when nothing changed: a CRD installed or deleted since is noticed here.
        """
        listing = self._client.request("GET", "/apis")
        present = {
            version["groupVersion"]
            for group in listing.get("groups", [])
            for version in group.get("versions", [])
        }
        with self._lock:
            for group_version, kinds in list(self._versions.items()):
                if group_version == CORE:
                    continue
                if (kinds is not None) != (group_version in present):
                    self._probe_locked(group_version)
                elif kinds is None:
                    self._checked_at[group_version] = self._clock()
