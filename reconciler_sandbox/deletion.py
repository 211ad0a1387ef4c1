"""DELETE: finalizers, propagation policies and the garbage collector, done synchronously.

- An object with finalizers gets ``deletionTimestamp`` and stays until an update removes the
  last finalizer; then it is removed as if deleted in the background.
- ``propagationPolicy``: Background removes the object, then its dependents (objects whose
  ownerReferences name its uid); Foreground first marks it with the ``foregroundDeletion``
  finalizer, removes the dependents, then the object; Orphan removes the ownerReferences from
  dependents instead. Without a policy a batch/v1 Job orphans its pods and the response carries
  the same ``Warning`` header as a real server; every other kind defaults to Background.
- Deleting a Namespace removes everything in it; deleting a CustomResourceDefinition removes all
  its custom resources and stops serving them.

Differences from a real cluster: the garbage collector runs inside the request (dependents are
gone when DELETE returns) and a namespace or CRD being deleted never lingers in Terminating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler_sandbox import crds, errors
from reconciler_sandbox.discovery import ResourceType
from reconciler_sandbox.rest import Api, now
from reconciler_sandbox.store import Stored, dumps

Obj = dict[str, Any]
JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)
POLICIES = ("Foreground", "Background", "Orphan")


@dataclass
class DeleteOptions:
    propagation: str | None = None
    dry_run: bool = False
    resource_version: str | None = None
    uid: str | None = None


@dataclass
class Deleted:
    code: int
    body: bytes
    warnings: list[str]


class Deleter:
    def __init__(self, api: Api) -> None:
        self.api = api
        api.on_removed.append(self._after_removed)

    def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions) -> Deleted:
        warnings: list[str] = []
        policy = opts.propagation
        if policy is not None and policy not in POLICIES:
            raise errors.bad_request(f"unsupported propagationPolicy {policy!r}")
        if policy is None:
            policy = "Background"
            if (rt.group, rt.resource) == ("batch", "jobs"):
                policy = "Orphan"
                warnings.append(JOB_ORPHAN_WARNING)
        store = self.api.store
        with store.lock:
            # Writes keep the stored form; responses show the request's version (eventsview).
            found = self.api.stored(rt, namespace, name)
            old = found.obj
            self._check_preconditions(rt, old, opts)
            meta = old["metadata"]
            if opts.dry_run or meta.get("deletionTimestamp"):
                return Deleted(200, self.api.view(rt, found).raw, warnings)
            if rt.key == ("", "namespaces"):
                return Deleted(200, self._delete_namespace(rt, old), warnings)
            finalizers = list(meta.get("finalizers") or [])
            if policy == "Foreground":
                marked = self._mark(rt, old, [*finalizers, "foregroundDeletion"])
                self._cascade(old, "Foreground")
                current = self.api.find(rt, namespace, name) or marked.obj
                self._finish_foreground(rt, current)
                return Deleted(200, self.api.view(rt, marked).raw, warnings)
            if finalizers:
                marked = self._mark(rt, old, finalizers)
                if policy == "Orphan":
                    self._cascade(old, "Orphan")
                return Deleted(200, self.api.view(rt, marked).raw, warnings)
            gone = store.remove(rt.key, _copy(old))
            self._after_removed(rt, gone.obj, policy)
        if rt.custom:
            return Deleted(200, self.api.view(rt, gone).raw, warnings)
        return Deleted(200, dumps(_success(rt, gone.obj)), warnings)

    def _check_preconditions(self, rt: ResourceType, old: Obj, opts: DeleteOptions) -> None:
        meta = old["metadata"]
        for wanted, actual, label in (
            (opts.resource_version, meta["resourceVersion"], "ResourceVersion"),
            (opts.uid, meta["uid"], "UID"),
        ):
            if wanted and wanted != actual:
                raise errors.conflict(
                    rt.kind,
                    "",
                    meta["name"],
                    f"the {label} in the precondition ({wanted}) does not match the {label} "
                    f"in record ({actual}). The object might have been modified",
                )

    def _mark(self, rt: ResourceType, old: Obj, finalizers: list[str]) -> Stored:
        obj = _copy(old)
        obj["metadata"]["deletionTimestamp"] = now()
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        obj["metadata"]["finalizers"] = finalizers
        return self.api.store.put(rt.key, obj)

    def _finish_foreground(self, rt: ResourceType, obj: Obj) -> None:
        rest = [f for f in obj["metadata"].get("finalizers") or [] if f != "foregroundDeletion"]
        new = _copy(obj)
        if rest:
            new["metadata"]["finalizers"] = rest
            self.api.store.put(rt.key, new)
            return
        new["metadata"].pop("finalizers", None)
        gone = self.api.store.remove(rt.key, new)
        self._after_removed(rt, gone.obj, "Background")

    def _after_removed(self, rt: ResourceType, obj: Obj, policy: str = "Background") -> None:
        if crds.is_crd(rt):
            self._drop_crd(obj)
        self._cascade(obj, policy)

    def _cascade(self, owner: Obj, policy: str) -> None:
        """Garbage-collect (or orphan) everything that names ``owner`` in its ownerReferences."""
        uid = owner["metadata"]["uid"]
        for rt, dependent in self._dependents(uid):
            refs = dependent["metadata"]["ownerReferences"]
            others = [r for r in refs if r.get("uid") != uid]
            if policy == "Orphan" or others:
                new = _copy(dependent)
                if others:
                    new["metadata"]["ownerReferences"] = others
                else:
                    del new["metadata"]["ownerReferences"]
                self.api.store.put(rt.key, new)
            elif not dependent["metadata"].get("deletionTimestamp"):
                self.delete(
                    rt,
                    dependent["metadata"].get("namespace", ""),
                    dependent["metadata"]["name"],
                    DeleteOptions(propagation=policy),
                )

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for rt in self._types_by_key().values():
            for stored in self.api.store.list(rt.key):
                refs = stored.obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    found.append((rt, stored.obj))
        return found

    def _types_by_key(self) -> dict[tuple[str, str], ResourceType]:
        by_key: dict[tuple[str, str], ResourceType] = {}
        for rt in self.api.registry.all_types():
            by_key.setdefault(rt.key, rt)
        return by_key

    def _delete_namespace(self, rt: ResourceType, ns: Obj) -> bytes:
        terminating = _copy(ns)
        terminating["metadata"]["deletionTimestamp"] = now()
        terminating["status"] = {"phase": "Terminating"}
        marked = self.api.store.put(rt.key, terminating)
        name = ns["metadata"]["name"]
        for other in self._types_by_key().values():
            if not other.namespaced:
                continue
            for stored in self.api.store.list(other.key, name):
                self._force_remove(other, stored.obj)
        final = _copy(marked.obj)
        gone = self.api.store.remove(rt.key, final)
        self._after_removed(rt, gone.obj)
        return marked.raw

    def _force_remove(self, rt: ResourceType, obj: Obj) -> None:
        ident = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        if self.api.store.get(rt.key, *ident) is None:
            return  # already collected as someone's dependent
        gone = self.api.store.remove(rt.key, _copy(obj))
        self._after_removed(rt, gone.obj)

    def _drop_crd(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        for rt in self.api.registry.custom_types(name)[:1]:
            for stored in self.api.store.list(rt.key):
                self._force_remove(rt, stored.obj)
        self.api.registry.set_custom(name, [])
        self.api.validator.unregister_crd(name)


def _copy(obj: Obj) -> Obj:
    """A copy whose metadata may be changed; the rest is shared (stored objects are frozen)."""
    return {**obj, "metadata": dict(obj["metadata"])}


def _success(rt: ResourceType, obj: Obj) -> Obj:
    details: dict[str, Any] = {"name": obj["metadata"]["name"]}
    if rt.group:
        details["group"] = rt.group
    details.update(kind=rt.resource, uid=obj["metadata"]["uid"])
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
