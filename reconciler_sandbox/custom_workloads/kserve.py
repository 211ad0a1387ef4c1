"""Simulated KServe controller for serving.kserve.io/v1beta1 InferenceServices (serverless mode).

Every new generation is first reported with ``Ready`` Unknown: reason ``RevisionMissing`` when the
predictor's revision template changed (a new Knative revision ``<name>-predictor-0000N`` is
created), ``IngressNotConfigured`` when only ``canaryTrafficPercent`` changed (just the route is
updated). After the deployment delay the scenario's service rule for its model URIs decides:

- ready: ``PredictorReady``, ``IngressReady`` and ``Ready`` True (with the configuration and
  route conditions), ``url``, ``address.url``, ``components.predictor`` (revisions, urls,
  ``traffic``) and ``modelStatus`` Loaded/UpToDate. With ``canaryTrafficPercent`` set and an
  earlier rolled-out revision, the latest revision (tag ``latest``) gets that percent and the
  earlier one (tag ``prev``) the rest; otherwise the latest gets everything and becomes the
  rolled-out revision.
- failed: ``Ready`` False with reason ``RevisionFailed`` and the rule's message, and a
  ``modelStatus`` ``BlockedByFailedLoad``; an earlier ready revision keeps its traffic.

Knative keeps the revisions; here they live in the controller, keyed by the object's uid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from reconciler_sandbox.controllers import Context, Controller
from reconciler_sandbox.custom_workloads import common
from reconciler_sandbox.rest import now
from reconciler_sandbox.store import Event

Obj = dict[str, Any]
API_VERSION = "serving.kserve.io/v1beta1"
RESOURCE = "inferenceservices"
MANAGER = "manager"  # the field manager of KServe's controller binary
DOMAIN = "example.com"  # Knative's default domain
TRUE = ("True", "", "")


@dataclass(frozen=True)
class Revisions:
    template: str  # the predictor without canaryTrafficPercent: what makes a new revision
    created: int
    ready: int | None = None
    rolled_out: int | None = None  # the last revision that got all the traffic


class InferenceServiceController(Controller):
    resources = (("serving.kserve.io", RESOURCE),)

    def __init__(self) -> None:
        self._revisions: dict[str, Revisions] = {}

    def handle(self, event: Event, ctx: Context) -> None:
        if event.type == "DELETED":
            self._revisions.pop(event.obj["metadata"]["uid"], None)
            return
        isvc = common.current(ctx, API_VERSION, RESOURCE, event.obj)
        if isvc is None:
            return
        meta = isvc["metadata"]
        generation = meta.get("generation", 1)
        status = dict(isvc.get("status") or {})
        if status.get("observedGeneration") == generation:
            return
        predictor = dict(isvc["spec"].get("predictor") or {})
        predictor.pop("canaryTrafficPercent", None)
        template = json.dumps(predictor, sort_keys=True)
        known = self._revisions.get(meta["uid"])
        if known is None:
            revisions = Revisions(template, 1)
        elif known.template != template:
            revisions = replace(known, template=template, created=known.created + 1)
        else:
            revisions = known
        if revisions is known:
            configuration = TRUE
            route = ("Unknown", "IngressNotConfigured", "Ingress has not yet been reconciled.")
        else:
            configuration = (
                "Unknown",
                "RevisionMissing",
                f'Configuration "{meta["name"]}-predictor" is waiting for a Revision to become ready.',
            )
            route = TRUE if revisions.ready is not None else configuration
        component = dict((status.get("components") or {}).get("predictor") or {})
        component["latestCreatedRevision"] = _revision(meta["name"], revisions.created)
        status.update(
            observedGeneration=generation,
            deploymentMode="Serverless",
            components={"predictor": component},
            conditions=_conditions(status, configuration, route),
            modelStatus={
                "states": {
                    "activeModelState": "Loaded" if revisions.ready is not None else "Pending",
                    "targetModelState": "Loading",
                },
                "transitionStatus": "InProgress",
            },
        )
        if ctx.write_status(isvc, status, MANAGER) is not None:
            self._revisions[meta["uid"]] = revisions
            ctx.schedule(ctx.deployment_delay, lambda: self._finish(ctx, isvc, generation))

    def _finish(self, ctx: Context, seen: Obj, generation: int) -> None:
        isvc = common.current(ctx, API_VERSION, RESOURCE, seen)
        if isvc is None or isvc["metadata"].get("generation") != generation:
            return  # deleted, or a newer generation has its own timer
        meta = isvc["metadata"]
        revisions = self._revisions[meta["uid"]]
        rule = ctx.scenario.service_rule(meta["namespace"], meta["name"], _models(isvc))
        if rule.outcome == "Failed":
            status = _failed(isvc, revisions, rule.message or "model failed to load")
        else:
            percent = (isvc["spec"].get("predictor") or {}).get("canaryTrafficPercent")
            if percent is None or revisions.rolled_out in (None, revisions.created):
                revisions = replace(revisions, rolled_out=revisions.created)
            revisions = replace(revisions, ready=revisions.created)
            status = _ready(isvc, revisions, percent)
        if ctx.write_status(isvc, status, MANAGER) is None:
            ctx.schedule(0.01, lambda: self._finish(ctx, isvc, generation))
            return
        self._revisions[meta["uid"]] = revisions


def _ready(isvc: Obj, revisions: Revisions, percent: int | None) -> Obj:
    name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    latest = _revision(name, revisions.created)
    if revisions.rolled_out == revisions.created:
        traffic = [{"latestRevision": True, "percent": 100, "revisionName": latest}]
    else:
        assert percent is not None and revisions.rolled_out is not None  # a canary
        previous = _revision(name, revisions.rolled_out)
        traffic = [
            _tagged("latest", name, namespace, latest, percent, True),
            _tagged("prev", name, namespace, previous, 100 - percent, False),
        ]
    status = dict(isvc["status"])
    status.update(
        url=f"http://{name}.{namespace}.{DOMAIN}",
        address={"url": f"http://{name}.{namespace}.svc.cluster.local"},
        components={
            "predictor": {
                "address": {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local"},
                "latestCreatedRevision": latest,
                "latestReadyRevision": latest,
                "latestRolledoutRevision": _revision(
                    name, revisions.rolled_out or revisions.created
                ),
                "traffic": traffic,
                "url": f"http://{name}-predictor.{namespace}.{DOMAIN}",
            }
        },
        conditions=_conditions(status, TRUE, TRUE),
        modelStatus={
            "copies": {"failedCopies": 0, "totalCopies": 1},
            "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
            "transitionStatus": "UpToDate",
        },
    )
    return status


def _failed(isvc: Obj, revisions: Revisions, reason: str) -> Obj:
    latest = _revision(isvc["metadata"]["name"], revisions.created)
    configuration = (
        "False",
        "RevisionFailed",
        f'Revision "{latest}" failed with message: {reason}.',
    )
    route = TRUE if revisions.ready is not None else configuration
    status = dict(isvc["status"])
    states = {"targetModelState": "FailedToLoad"}
    if revisions.ready is not None:
        states["activeModelState"] = "Loaded"
    status.update(
        conditions=_conditions(status, configuration, route),
        modelStatus={
            "copies": {"failedCopies": 1, "totalCopies": 1},
            "lastFailureInfo": {
                "reason": "ModelLoadFailed",
                "message": reason,
                "modelRevisionName": latest,
                "time": now(),
            },
            "states": states,
            "transitionStatus": "BlockedByFailedLoad",
        },
    )
    return status


def _conditions(
    status: Obj, configuration: tuple[str, str, str], route: tuple[str, str, str]
) -> list[Obj]:
    """KServe's conditions, sorted by type as Knative keeps them; the predictor is as ready as
    the worse of its configuration and route, and the service as its predictor."""
    worse = min((configuration, route), key=lambda c: ("False", "Unknown", "True").index(c[0]))
    wanted = {
        "IngressReady": route,
        "PredictorConfigurationReady": configuration,
        "PredictorReady": worse,
        "PredictorRouteReady": route,
        "Ready": worse,
    }
    previous = {c["type"]: c for c in status.get("conditions") or []}
    result = []
    for kind, (state, reason, message) in sorted(wanted.items()):
        old = previous.get(kind)
        since = old["lastTransitionTime"] if old and old.get("status") == state else now()
        entry: Obj = {"type": kind, "status": state, "lastTransitionTime": since}
        # Knative leaves reason and message out of a True condition.
        if reason:
            entry.update(reason=reason, message=message)
        result.append(entry)
    return result


def _tagged(tag: str, name: str, namespace: str, revision: str, percent: int, latest: bool) -> Obj:
    return {
        "latestRevision": latest,
        "percent": percent,
        "revisionName": revision,
        "tag": tag,
        "url": f"http://{tag}-{name}-predictor.{namespace}.{DOMAIN}",
    }


def _revision(name: str, number: int) -> str:
    return f"{name}-predictor-{number:05d}"


def _models(isvc: Obj) -> list[str]:
    """The model URIs a predictor serves: its model's storageUri, or a container's STORAGE_URI."""
    predictor = isvc["spec"].get("predictor") or {}
    uris = [str((predictor.get("model") or {}).get("storageUri") or "")]
    for container in predictor.get("containers") or []:
        uris += [
            str(e.get("value", ""))
            for e in container.get("env") or []
            if e.get("name") == "STORAGE_URI"
        ]
    return [uri for uri in uris if uri]
