"""Run a corpus file's request steps against one cluster and normalize what comes back.

A corpus file (corpus/*.yaml) is ``{description, steps: [...]}``; each step:

    id: create                      # unique in its file; differences are reported by it
    method: POST                    # GET, POST, PUT, PATCH, DELETE
    path: /api/v1/namespaces/{ns}/configmaps   # {ns} and captured names are substituted
    query: {fieldManager: a}        # optional
    contentType: application/json   # default; the body is sent as JSON (valid YAML for apply)
    body: {...}                     # optional; strings in it are substituted too
    capture: {rv: metadata.resourceVersion}   # names for later steps, read from the response
    until: 404                      # repeat until this status (30 s): asynchronous controllers
    watch: 3                        # a watch: read this many events (5 s at most)
    pick: [kind, "resources[name=deployments]"]   # compare only these parts of the body
    compare: status                 # "status" alone, or "all" (the default)
    only: sandbox                   # a step for one cluster (the sandbox's own controls)

The result of a step is ``{"status": code, "body": normalized body}``: namespace names become
``<ns>``, uids ``<uid>``, timestamps ``<time>``, resource versions ``<rv>``, generated name
suffixes ``<random>``; ``selfLink`` is dropped; lists the API leaves unordered are sorted.
managedFields are sorted without their times: the server orders entries by the second they last
changed, so two runs of one corpus order them differently when a step crosses a second.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

Json = Any
UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
TOO_OLD = re.compile(r"too old resource version: \d+ \(\d+\)")
IN_RECORD = re.compile(r"in record \(\d+\)")
HASH = re.compile(r"hash=[0-9A-Fa-f]+")
VERSION_KEYS = {"resourceVersion"}
UNORDERED = {"verbs", "shortNames", "categories"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class Endpoint:
    """Where to send raw HTTPS requests, with the kubeconfig's credentials."""

    host: str
    pool: urllib3.PoolManager
    headers: dict[str, str]

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Endpoint:
        config = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(path), client_configuration=config)
        pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=config.ssl_ca_cert,
            cert_file=config.cert_file,
            key_file=config.key_file,
        )
        headers = {"Accept": "application/json"}
        for setting in config.auth_settings().values():
            headers[setting["key"]] = setting["value"]
        return cls(config.host, pool, headers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        stream: bool = False,
        timeout: float = 30,
    ) -> urllib3.BaseHTTPResponse:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        return self.pool.request(
            method,
            self.host + path,
            body=body,
            headers=headers,
            preload_content=not stream,
            timeout=urllib3.Timeout(connect=5, read=timeout),
            retries=False,
        )


def load(path: Path) -> list[dict[str, Any]]:
    import yaml

    return yaml.safe_load(path.read_text())["steps"]


def run(endpoint: Endpoint, cluster: str, steps: list[dict[str, Any]], namespace: str) -> dict:
    """Each step's normalized result, by step id."""
    names: dict[str, str] = {"ns": namespace}
    results: dict[str, Json] = {}
    for step in steps:
        if step.get("only", cluster) != cluster:
            continue
        status, body = _send(endpoint, step, names)
        for name, where in (step.get("capture") or {}).items():
            names[name] = str(_at(body, where))
        if step.get("compare", "all") == "status":
            results[step["id"]] = {"status": status}
            continue
        if step.get("pick"):
            body = {where: _at(body, where) for where in step["pick"]}
        results[step["id"]] = {"status": status, "body": normalize(body, namespace)}
    return results


def _send(endpoint: Endpoint, step: dict[str, Any], names: dict[str, str]) -> tuple[int, Json]:
    path = _substitute(step["path"], names)
    query = {k: _substitute(str(v), names) for k, v in (step.get("query") or {}).items()}
    if step.get("watch"):
        query.update(watch="true", timeoutSeconds="5")
        if query:
            path += "?" + urlencode(query)
        return _watch(endpoint, path, int(step["watch"]))
    if query:
        path += "?" + urlencode(query)
    body = None
    if "body" in step:
        body = json.dumps(_substitute(step["body"], names)).encode()
    content_type = step.get("contentType", "application/json") if body is not None else None
    deadline = time.monotonic() + 30
    while True:
        response = endpoint.request(step["method"], path, body, content_type)
        if "until" not in step or response.status == step["until"]:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"step {step['id']}: still {response.status} after 30 s")
        time.sleep(0.1)  # polling an asynchronous controller (garbage collector, namespace)
    return response.status, _decode(response.data)


def _watch(endpoint: Endpoint, path: str, count: int) -> tuple[int, Json]:
    response = endpoint.request("GET", path, stream=True, timeout=10)
    events: list[Json] = []
    buffer = b""
    try:
        for chunk in response.stream(1024, decode_content=True):
            buffer += chunk
            while b"\n" in buffer and len(events) < count:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    event = json.loads(line)
                    if event.get("type") != "BOOKMARK":
                        events.append(event)
            if len(events) >= count:
                break
    finally:
        response.release_conn()
        response.close()
    return response.status, events


def _decode(data: bytes) -> Json:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def _substitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(item, names) for item in value]
    if isinstance(value, dict):
        return {_substitute(k, names): _substitute(v, names) for k, v in value.items()}
    return value


def _at(body: Json, where: str) -> Json:
    """``metadata.name``, ``items[0].kind``, ``resources[name=deployments]``, and a key holding
    dots or slashes quoted: ``paths["/apis/apps/v1"]``."""
    value = body
    for key, selector in re.findall(r"([^.\[\]]+)|\[([^\]]+)\]", where):
        if value is None:
            return None
        if selector.startswith('"'):
            key = selector.strip('"')
        if key:
            value = value.get(key) if isinstance(value, dict) else None
        elif "=" in selector:
            field, wanted = selector.split("=", 1)
            value = next((item for item in value if item.get(field) == wanted), None)
        else:
            index = int(selector)
            value = value[index] if index < len(value) else None
    return value


def normalize(value: Json, namespace: str, key: str = "") -> Json:
    if isinstance(value, dict):
        meta = value.get("metadata")
        out = {}
        for k, v in value.items():
            if k == "selfLink":
                continue
            out[k] = normalize(v, namespace, k)
        if isinstance(meta, dict) and meta.get("generateName") and meta.get("name"):
            out["metadata"]["name"] = meta["generateName"] + "<random>"
        return out
    if isinstance(value, list):
        items = [normalize(item, namespace, key) for item in value]
        if key == "managedFields":
            return sorted(items, key=_entry_order)
        if key in UNORDERED and all(isinstance(item, str) for item in items):
            return sorted(items)
        return items
    if isinstance(value, str):
        if key in VERSION_KEYS and value.isdigit():
            return "<rv>"
        value = value.replace(namespace, "<ns>")
        value = UID.sub("<uid>", value)
        value = TIME.sub("<time>", value)
        value = TOO_OLD.sub("too old resource version: <rv> (<rv>)", value)
        value = IN_RECORD.sub("in record (<rv>)", value)
        return HASH.sub("hash=<hash>", value)
    return value


def _entry_order(entry: Json) -> tuple[str, ...]:
    if not isinstance(entry, dict):
        return ()
    fields = ("operation", "manager", "apiVersion", "subresource")
    return tuple(str(entry.get(field, "")) for field in fields)


def differences(sandbox: Json, real: Json, path: str = "") -> list[tuple[str, Json, Json]]:
    """(path, sandbox's value, real's value) for every place the two disagree."""
    if isinstance(sandbox, dict) and isinstance(real, dict):
        found = []
        for key in sorted(set(sandbox) | set(real), key=str):
            here = f"{path}.{key}" if path else str(key)
            found += differences(sandbox.get(key, ABSENT), real.get(key, ABSENT), here)
        return found
    if isinstance(sandbox, list) and isinstance(real, list) and len(sandbox) == len(real):
        found = []
        for index, (left, right) in enumerate(zip(sandbox, real, strict=True)):
            found += differences(left, right, f"{path}[{index}]")
        return found
    return [] if sandbox == real else [(path, sandbox, real)]


ABSENT = "<absent>"
