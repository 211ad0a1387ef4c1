"""The REST semantics of every resource: read, list, create, update, patch and the write pipeline.

Each write goes through one pipeline (``_commit``) so every verb behaves alike:

1. server-owned metadata (uid, creationTimestamp, generation, deletionTimestamp) comes from the
   stored object, never from the request; status comes from it too unless the write is to the
   ``status`` subresource (which changes nothing but status);
2. validation against the kind's schema with the request's ``fieldValidation`` (Strict: 400 on
   unknown fields; Warn, the default when the parameter is absent: ``Warning`` headers; Ignore),
   unknown fields dropped, 422 Invalid for violations (including more than 262144 bytes of
   annotations);
3. server defaulting and canonical quantities (``defaults.default_object``), Job selector and
   controller labels from the uid, Service clusterIP allocation;
4. immutability (Job ``spec.template/selector/completions``, Service ``spec.clusterIP``), see
   ``kinds``; for CustomResourceDefinitions, the name check and the server-set status;
5. generation per kind (``defaults.generation_changed``) and managedFields (``fieldmanager``);
6. a write that changes nothing (ignoring managedFields timestamps) is not stored: no new
   resourceVersion and no watch event, as on a real server;
7. ``dryRun=All`` stops before storing.

The pipeline works at the request's version; an object is stored in its resource's stored form
(core v1 Events as events.k8s.io/v1, ``eventsview``) and read back through ``view``.
"""

from __future__ import annotations

import json
import random
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler_sandbox import crds, errors, eventsview, kinds
from reconciler_sandbox.defaults import default_object, generation_changed, has_generation
from reconciler_sandbox.discovery import Registry, ResourceType
from reconciler_sandbox.fieldmanager import apply, list_keys_for, record_update
from reconciler_sandbox.patch import json_patch, merge_patch, strategic_merge_patch
from reconciler_sandbox.store import Store, Stored, dumps
from reconciler_sandbox.validation import Validator

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
VALIDATION_MODES = ("Strict", "Warn", "Ignore")
# Kinds a real server answers with "status": {} at creation (a Go struct without omitempty).
_EMPTY_STATUS = {("apps/v1", "Deployment"), ("batch/v1", "Job")}
_SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str | None = None
    default_manager: str = "unknown"
    validation: str = "Warn"
    force: bool = False
    # False only for CRDs the sandbox loads at start: the upstream Seldon CRD is not structural
    # (kube-apiserver refuses it) but the simulated Seldon operator needs it served.
    structural: bool = True

    @property
    def manager(self) -> str:
        return self.field_manager or self.default_manager


@dataclass
class Written:
    stored: Stored
    code: int = 200
    warnings: list[str] = field(default_factory=list)


class Api:
    """Resource operations over one store; callers are the HTTP layer and the controllers."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.validator = Validator()
        self._list_keys: dict[ResourceType, Any] = {}
        self.on_removed: list[Any] = []  # callbacks(rt, obj) after an object is gone

    # Reads ---------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        return self.view(rt, self.stored(rt, namespace, name))

    def stored(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        """The object in its stored form, whatever version ``rt`` is (404 when absent)."""
        found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if found is None:
            raise errors.not_found(rt.resource, rt.group, name)
        return found

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        return found.obj if found else None

    @staticmethod
    def view(rt: ResourceType, stored: Stored) -> Stored:
        """The object as seen at ``rt``'s version.

        Custom resources are stored at one version and only relabelled; Events are converted.
        """
        if stored.obj.get("apiVersion") == rt.api_version:
            return stored
        if eventsview.is_core_view(rt):
            obj = eventsview.to_core(stored.obj)
        else:
            obj = {**stored.obj, "apiVersion": rt.api_version}
        return Stored(obj, dumps(obj))

    # Create, update, patch -----------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, opts: WriteOptions) -> Written:
        meta = _prepare_body(rt, body, namespace)
        if not meta.get("name"):
            if meta.get("generateName"):
                suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
                meta["name"] = meta["generateName"] + suffix
            else:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        _cause(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
        with self.store.lock:
            self._require_namespace(rt, meta.get("namespace", ""))
            if self.find(rt, meta.get("namespace", ""), meta["name"]) is not None:
                raise errors.already_exists(rt.resource, rt.group, meta["name"])
            return self._commit(rt, None, body, opts)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> Written:
        meta = _prepare_body(rt, body, namespace)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        with self.store.lock:
            old = self.get(rt, namespace, name).obj
            self._check_version(rt, old, meta.get("resourceVersion"))
            return self._commit(rt, old, body, opts, subresource=subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        payload: bytes,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> Written:
        if content_type == APPLY_PATCH:
            return self._apply(rt, namespace, name, payload, opts, subresource)
        if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH) or (
            content_type == STRATEGIC_PATCH and rt.custom
        ):
            raise errors.unsupported_media_type(content_type)
        patch = _load_json(payload)
        with self.store.lock:
            old = self.get(rt, namespace, name).obj
            new = patch_object(old, content_type, patch, rt.api_version, rt.kind)
            meta = _prepare_body(rt, new, namespace)
            meta["name"] = name
            self._check_version(rt, old, meta.get("resourceVersion"))
            return self._commit(rt, old, new, opts, subresource=subresource)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        payload: bytes,
        opts: WriteOptions,
        subresource: str | None,
    ) -> Written:
        if not opts.field_manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    _cause(
                        "fieldManager",
                        "FieldValueRequired",
                        "Required value: is required for apply patch",
                    )
                ],
            )
        try:
            applied = yaml.load(payload, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
        if not isinstance(applied, dict):
            raise errors.bad_request("the body of an apply patch must be an object")
        for part in ("apiVersion", "kind"):
            if not applied.get(part):
                raise errors.bad_request(f"{part} must be set in an apply patch")
        meta = _prepare_body(rt, applied, namespace)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        with self.store.lock:
            found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
            live = self.view(rt, found).obj if found is not None else None
            if live is None:
                if subresource:
                    raise errors.not_found(rt.resource, rt.group, name)
                self._require_namespace(rt, namespace if rt.namespaced else "")
            else:
                self._check_version(rt, live, meta.get("resourceVersion"))
            merged = apply(live, applied, opts.manager, opts.force, now(), self.list_keys(rt))
            return self._commit(rt, live, merged, opts, subresource=subresource, applied=True)

    # The pipeline --------------------------------------------------------------------------

    def _commit(
        self,
        rt: ResourceType,
        old: Obj | None,
        new: Obj,
        opts: WriteOptions,
        subresource: str | None = None,
        applied: bool = False,
    ) -> Written:
        new = _server_owned(rt, old, new, subresource)
        result = self.validator.validate(new, opts.validation)
        warnings = list(result.warnings)
        new = default_object(result.obj)
        kinds.on_write(self, rt, old, new)
        if old is None and has_generation(rt.api_version, rt.kind):
            new["metadata"]["generation"] = 1
        elif old is not None and "generation" in old["metadata"]:
            bump = subresource != "status" and generation_changed(old, new)
            new["metadata"]["generation"] = old["metadata"]["generation"] + int(bump)
        if crds.is_crd(rt):
            if isinstance(new.get("spec"), dict):
                new["spec"].setdefault("conversion", {"strategy": "None"})
            crds.check(new, structural=opts.structural)
            new["status"] = crds.status(new, (old or {}).get("status"), now())
        if not applied:
            new["metadata"]["managedFields"] = record_update(
                old, new, opts.manager, now(), subresource, self.list_keys(rt)
            )
        if not new["metadata"].get("managedFields"):
            new["metadata"].pop("managedFields", None)
        # Compared as stored: the core v1 view's always-written empty fields are no change.
        if old is not None and _unchanged(*(eventsview.to_storage(rt, o) for o in (old, new))):
            return Written(self.view(rt, self.store.get(rt.key, *_ident(old))), 200, warnings)
        if opts.dry_run:
            new["metadata"].pop("resourceVersion", None)
            if old is not None:
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return Written(Stored(new, dumps(new)), 201 if old is None else 200, warnings)
        meta = new["metadata"]
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers"):
            stored = self.store.remove(rt.key, eventsview.to_storage(rt, new))
            self.removed(rt, stored.obj)
            return Written(self.view(rt, stored), 200, warnings)
        stored = self.store.put(rt.key, eventsview.to_storage(rt, new))
        if crds.is_crd(rt):
            self.register_crd(stored.obj)
        return Written(self.view(rt, stored), 201 if old is None else 200, warnings)

    # Shared with deletion and the controllers ---------------------------------------------

    def removed(self, rt: ResourceType, obj: Obj) -> None:
        for callback in self.on_removed:
            callback(rt, obj)

    def register_crd(self, crd: Obj) -> None:
        self.validator.register_crd(crd)
        types = crds.served_types(crd)
        for rt in types:
            self._list_keys.pop(rt, None)
        self.registry.set_custom(crd["metadata"]["name"], types)

    def list_keys(self, rt: ResourceType) -> Any:
        keys = self._list_keys.get(rt)
        if keys is None:
            keys = self._list_keys[rt] = list_keys_for(rt.api_version, rt.kind, rt.schema)
        return keys

    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        if self.store.get(("", "namespaces"), "", namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    def _check_version(self, rt: ResourceType, old: Obj, wanted: str | None) -> None:
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.resource, rt.group, old["metadata"]["name"], errors.MODIFIED)


def patch_object(old: Obj, content_type: str, patch: Any, api_version: str, kind: str) -> Obj:
    """The patched object (a new one: the patch functions never mutate their input)."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request("json patch must be a list of operations")
        result = json_patch(old, patch)
    elif content_type == MERGE_PATCH:
        result = merge_patch(old, patch)
    else:
        result = strategic_merge_patch(old, patch, api_version, kind)
    if not isinstance(result, dict):
        raise errors.bad_request("the patch does not produce an object")
    return result


def _prepare_body(rt: ResourceType, body: Obj, namespace: str) -> Obj:
    """Check the body names this resource and namespace; return its (owned) metadata."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request is not an object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    # Custom resources may be sent at any served version of their group.
    other_version = rt.custom and kind == rt.kind and str(api_version).startswith(rt.group + "/")
    if (
        api_version
        and kind
        and (api_version, kind) != (rt.api_version, rt.kind)
        and not other_version
    ):
        if api_version == rt.api_version:
            internal = rt.group.split(".")[0] or "core"
            raise errors.bad_request(
                f'{kind} in version "{rt.version}" cannot be handled as a {rt.kind}: converting '
                f"({rt.version}.{kind}) to ({internal}.{rt.kind}): unknown conversion"
            )
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
        )
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        meta = body["metadata"] = {}
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    return meta


def _server_owned(rt: ResourceType, old: Obj | None, new: Obj, subresource: str | None) -> Obj:
    if subresource == "status" and old is not None:
        # Status writes change status only (plus ownership, recorded afterwards).
        new = {**old, "status": new.get("status"), "metadata": dict(old["metadata"])}
        if new["status"] is None:
            del new["status"]
    new["apiVersion"], new["kind"] = rt.api_version, rt.kind
    meta = new["metadata"]
    meta.pop("resourceVersion", None)
    if old is None:
        for key in (*_SERVER_OWNED, "generation"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.has_status:
            new.pop("status", None)
            if (rt.api_version, rt.kind) in _EMPTY_STATUS:
                new["status"] = {}
        return new
    old_meta = old["metadata"]
    for key in (*_SERVER_OWNED, "generation"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if old_meta.get("deletionTimestamp"):
        # Finalizers may only be removed once deletion has started.
        kept = set(old_meta.get("finalizers") or [])
        added = [f for f in meta.get("finalizers") or [] if f not in kept]
        if added:
            shown = "[]string{" + ", ".join(json.dumps(f) for f in added) + "}"
            message = (
                "Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {shown}"
            )
            cause = _cause("metadata.finalizers", "FieldValueForbidden", message)
            raise errors.invalid(rt.kind, rt.group, meta.get("name", ""), [cause])
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
    if rt.has_status and subresource != "status":
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    return new


def _unchanged(old: Obj, new: Obj) -> bool:
    def strip(obj: Obj) -> tuple[Obj, list[Obj]]:
        meta = dict(obj["metadata"])
        meta.pop("resourceVersion", None)
        managed = meta.pop("managedFields", None) or []
        timeless = [{k: v for k, v in entry.items() if k != "time"} for entry in managed]
        return {**obj, "metadata": meta}, timeless

    return strip(old) == strip(new)


def _ident(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _cause(field_path: str, reason: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field_path}


def _load_json(payload: bytes) -> Any:
    try:
        return json.loads(payload or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
