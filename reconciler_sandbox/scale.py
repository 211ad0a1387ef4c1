"""The ``scale`` subresource of Deployments: an ``autoscaling/v1`` Scale view of spec.replicas."""

from __future__ import annotations

import json
from typing import Any

from reconciler_sandbox import errors
from reconciler_sandbox.discovery import ResourceType
from reconciler_sandbox.rest import APPLY_PATCH, Api, WriteOptions, Written, patch_object
from reconciler_sandbox.store import Stored, dumps

Obj = dict[str, Any]


class Scales:
    def __init__(self, api: Api) -> None:
        self.api = api

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return _scale(self.api.get(rt, namespace, name).obj)

    def write(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        verb: str,
        content_type: str,
        payload: bytes,
        opts: WriteOptions,
    ) -> Written:
        try:
            sent = json.loads(payload or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"the body of the request is not JSON: {exc}") from exc
        with self.api.store.lock:
            current = self.get(rt, namespace, name)
            if verb == "patch":
                if content_type == APPLY_PATCH:
                    raise errors.unsupported_media_type(content_type)
                sent = patch_object(current, content_type, sent, "autoscaling/v1", "Scale")
            if not isinstance(sent, dict):
                raise errors.bad_request("a Scale must be an object")
            replicas = (sent.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "field": "spec.replicas",
                            "message": f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                        }
                    ],
                )
            old = self.api.get(rt, namespace, name).obj
            body = {
                **old,
                "metadata": dict(old["metadata"]),
                "spec": {**old.get("spec", {}), "replicas": replicas},
            }
            wanted = (sent.get("metadata") or {}).get("resourceVersion")
            body["metadata"]["resourceVersion"] = wanted or old["metadata"]["resourceVersion"]
            written = self.api.update(rt, namespace, name, body, opts, subresource="scale")
        scale = _scale(written.stored.obj)
        return Written(Stored(scale, dumps(scale)), 200, written.warnings)


def _scale(deployment: Obj) -> Obj:
    meta = deployment["metadata"]
    selector = (deployment.get("spec") or {}).get("selector") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (deployment.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (deployment.get("status") or {}).get("replicas", 0),
            "selector": labels,
        },
    }
