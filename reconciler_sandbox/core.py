"""The Sandbox: store, API, controllers and HTTP server wired together, with a Python API.

    with Sandbox(crds_dir="crds", deployment_delay=0.2) as sandbox:
        sandbox.write_kubeconfig("kubeconfig")
        apps = kubernetes.client.AppsV1Api(sandbox.api_client())

Starting state: namespaces ``default`` and ``kube-system``; CRDs from ``crds_dir`` (every
``*.yaml``/``*.yml``/``*.json`` document of kind CustomResourceDefinition); rules from
``scenario``. Every sandbox has its own random bearer token and listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
import yaml

from reconciler_sandbox import collection, crds, errors, kubeconfig, protobuf, scenario
from reconciler_sandbox.control import Control, Fault
from reconciler_sandbox.controllers import Runtime
from reconciler_sandbox.custom_workloads import custom_controllers
from reconciler_sandbox.deletion import POLICIES, DeleteOptions, Deleter
from reconciler_sandbox.discovery import Registry, ResourceType
from reconciler_sandbox.jobs import JobController, PodController
from reconciler_sandbox.openapi import OpenApi
from reconciler_sandbox.rest import Api, WriteOptions
from reconciler_sandbox.scale import Scales
from reconciler_sandbox.store import DEFAULT_WINDOW, Store, dumps
from reconciler_sandbox.tls import TlsUnavailable, make_certificate, server_context
from reconciler_sandbox.workloads import DeploymentController, HorizontalPodAutoscalerController

log = structlog.get_logger("reconciler_sandbox")
NOTICE = "this is a development sandbox, not a cluster: nothing here runs, and nothing persists"
START_NAMESPACES = ("default", "kube-system")
CRD = ("apiextensions.k8s.io/v1", "customresourcedefinitions")


class Sandbox:
    def __init__(
        self,
        port: int = 0,
        crds_dir: str | Path | None = None,
        scenario_file: str | Path | None = None,
        deployment_delay: float = 1.0,
        bookmark_interval: float = 5.0,
        event_window: int = DEFAULT_WINDOW,
        token: str | None = None,
        tls: bool = True,
    ) -> None:
        self.requested_port = port
        self.token = token or secrets.token_urlsafe(24)
        self.deployment_delay = deployment_delay
        self.bookmark_interval = bookmark_interval
        self.scenario = scenario.load(scenario_file) if scenario_file else scenario.Scenario()
        self.store = Store(event_window)
        self.registry = Registry()
        self.api = Api(self.store, self.registry)
        self.deleter = Deleter(self.api)
        self.scales = Scales(self.api)
        self.openapi = OpenApi(self.registry)
        self.control = Control()
        for fault in self.scenario.faults:
            self.control.add_fault(fault)
        self.controllers = Runtime(self)
        for controller in (
            DeploymentController(),
            HorizontalPodAutoscalerController(),
            JobController(),
            PodController(),
            *custom_controllers(),
        ):
            self.controllers.register(controller)
        self.kubeconfig_path: Path | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="reconciler-sandbox-")
        self._tls = tls
        self.ca_path: Path | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        for name in START_NAMESPACES:
            self._create("v1", "namespaces", {"metadata": {"name": name}})
        if crds_dir:
            self.load_crds(crds_dir)

    # Lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        from reconciler_sandbox.server import SandboxHTTPServer

        context = None
        if self._tls:
            try:
                cert, key = make_certificate(Path(self._workdir.name))
                context, self.ca_path = server_context(cert, key), cert
            except TlsUnavailable as exc:
                log.warning("serving plain HTTP: kubectl will not send its token", reason=str(exc))
        self._server = SandboxHTTPServer(("127.0.0.1", self.requested_port), self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        self.controllers.start()
        log.info("sandbox started", url=self.url)
        return self

    def stop(self) -> None:
        self.store.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.controllers.join(2.0)
        self._workdir.cleanup()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.requested_port

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_path else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # Clients -------------------------------------------------------------------------------

    def write_kubeconfig(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path else Path(self._workdir.name) / "kubeconfig"
        kubeconfig.write(target, self.url, self.token, self.ca_path)
        self.kubeconfig_path = target
        return target

    def api_client(self) -> Any:
        return kubeconfig.api_client(self.url, self.token, self.ca_path)

    def dynamic_client(self) -> Any:
        """A DynamicClient with a discovery cache file of its own (never shared by host)."""
        from kubernetes.dynamic import DynamicClient

        cache = Path(self._workdir.name) / f"discovery-{secrets.token_hex(4)}.json"
        return DynamicClient(self.api_client(), cache_file=str(cache))

    # Python control surface ---------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        return self.control.counters()

    def reset_counters(self) -> None:
        self.control.reset_counters()

    def inject_fault(self, **fields: Any) -> None:
        """See ``control.Fault``: verb, resource, name, status, retry_after, latency, drop, count."""
        self.control.add_fault(Fault.from_dict(fields))

    def clear_faults(self) -> None:
        self.control.clear_faults()

    def set_rules(self, rules: scenario.Scenario | dict[str, Any]) -> None:
        self.scenario = rules if isinstance(rules, scenario.Scenario) else scenario.parse(rules)
        for fault in self.scenario.faults:
            self.control.add_fault(fault)

    def compact(self) -> None:
        self.store.compact()

    def load_crds(self, directory: str | Path) -> int:
        count = 0
        for path in sorted(Path(directory).iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    refused = crds.structural_causes(doc)
                    if refused:
                        log.warning(
                            "loading a CRD a real API server refuses: not a structural schema",
                            crd=doc.get("metadata", {}).get("name"),
                            field=refused[0]["field"],
                        )
                    self._create(*CRD, doc, structural=False)
                    count += 1
        return count

    def _create(
        self, api_version: str, resource: str, body: dict[str, Any], structural: bool = True
    ) -> None:
        rt = self.registry.lookup(api_version, resource)
        opts = WriteOptions(field_manager="reconciler-sandbox", structural=structural)
        self.api.create(rt, "", body, opts)

    # Called by the HTTP layer ---------------------------------------------------------------

    def serve(
        self, verb: str, target: Any, params: dict[str, str], body: bytes, headers: Any
    ) -> tuple[int, bytes, list[str]]:
        rt: ResourceType = target.rt
        namespace = target.namespace or ""
        name = target.name or ""
        if verb == "get":
            if target.subresource == "scale":
                return 200, dumps(self.scales.get(rt, namespace, name)), []
            return 200, self.api.get(rt, namespace, name).raw, []
        if verb == "list":
            return 200, collection.list_body(self.api, rt, target.namespace, params), []
        if verb in ("delete", "deletecollection"):
            return self._delete(verb, target, params, body)
        opts = _write_options(params, headers)
        if verb == "create":
            written = self.api.create(rt, namespace, _document(body, headers), opts)
        elif target.subresource == "scale":
            content_type = _content_type(headers)
            written = self.scales.write(rt, namespace, name, verb, content_type, body, opts)
        elif verb == "update":
            written = self.api.update(
                rt, namespace, name, _document(body, headers), opts, target.subresource
            )
        else:
            content_type = _content_type(headers)
            written = self.api.patch(
                rt, namespace, name, content_type, body, opts, target.subresource
            )
        return written.code, written.stored.raw, written.warnings

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        params: dict[str, str],
        alive: Callable[[], bool],
    ) -> Iterator[bytes]:
        return collection.watch_events(
            self.api, rt, namespace, params, self.bookmark_interval, alive
        )

    def _delete(
        self, verb: str, target: Any, params: dict[str, str], body: bytes
    ) -> tuple[int, bytes, list[str]]:
        options = _json(body) if body.strip() else {}
        pre = options.get("preconditions") or {}
        policy = params.get("propagationPolicy") or options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        dry = params.get("dryRun") or ",".join(options.get("dryRun") or [])
        opts = DeleteOptions(policy, _dry_run(dry), pre.get("resourceVersion"), pre.get("uid"))
        if opts.propagation is not None and opts.propagation not in POLICIES:
            supported = '"Foreground", "Background", "Orphan", "nil"'
            cause = {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{opts.propagation}": supported values: {supported}',
                "field": "propagationPolicy",
            }
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", [cause])
        if verb == "delete":
            deleted = self.deleter.delete(target.rt, target.namespace or "", target.name, opts)
            return deleted.code, deleted.body, deleted.warnings
        matching = collection.list_body(self.api, target.rt, target.namespace, params)
        warnings: list[str] = []
        for item in json.loads(matching)["items"]:
            meta = item["metadata"]
            try:
                warnings += self.deleter.delete(
                    target.rt, meta.get("namespace", ""), meta["name"], opts
                ).warnings
            except errors.StatusError as exc:
                if exc.code != 404:
                    raise
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return 200, dumps(status), sorted(set(warnings))

    def control_request(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        route = (method, path.rstrip("/"))
        if route == ("GET", "/sandbox/counters"):
            return 200, self.counters()
        if route == ("POST", "/sandbox/counters/reset"):
            self.reset_counters()
            return 200, {}
        if route == ("POST", "/sandbox/faults"):
            data = _json(body)
            for item in data if isinstance(data, list) else [data]:
                self.control.add_fault(Fault.from_dict(item))
            return 201, {"faults": self.control.faults()}
        if route == ("GET", "/sandbox/faults"):
            return 200, {"faults": self.control.faults()}
        if route == ("DELETE", "/sandbox/faults"):
            self.clear_faults()
            return 200, {}
        if route == ("POST", "/sandbox/rules"):
            try:
                data = yaml.safe_load(body or b"{}")
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"rules are not YAML: {exc}") from exc
            self.set_rules(data)
            return 200, {}
        if route == ("POST", "/sandbox/compact"):
            self.compact()
            return 200, {}
        raise errors.path_not_found()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"the body of the request is not JSON: {exc}") from exc


def _document(body: bytes, headers: Any) -> Any:
    """A create/update body: JSON, YAML or (kubectl's typed clients) Kubernetes protobuf."""
    content_type = _content_type(headers)
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(body)
    if content_type in ("application/yaml", "application/x-yaml"):
        try:
            return yaml.load(body, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"the body of the request is not YAML: {exc}") from exc
    if content_type not in ("", "application/json", "*/*"):
        raise errors.StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml, {protobuf.MEDIA_TYPE} "
            f'(got "{content_type}")',
            {},
        )
    return _json(body)


def _content_type(headers: Any) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip()


def _dry_run(value: str) -> bool:
    if not value:
        return False
    if value != "All":
        raise errors.bad_request(f'dryRun: Unsupported value: {value!r}: supported values: "All"')
    return True


def _write_options(params: dict[str, str], headers: Any) -> WriteOptions:
    user_agent = (headers.get("User-Agent") or "unknown").split("/")[0][:128]
    validation = params.get("fieldValidation") or "Warn"
    manager = params.get("fieldManager") or None
    if manager is not None and len(manager) > 128:
        raise errors.bad_request("fieldManager: Too long: must have at most 128 bytes")
    force = params.get("force", "false").lower() in ("true", "1")
    return WriteOptions(_dry_run(params.get("dryRun", "")), manager, user_agent, validation, force)
