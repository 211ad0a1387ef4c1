"""A real control plane for the benchmark: ``hack/local-cluster up`` as a child, seen from outside.

``RealCluster`` starts one fresh cluster, talks to it with the admin client certificate, reads
kube-apiserver's own ``/metrics`` (``apiserver_request_total``) and the CPU and peak RSS of its
components from ``/proc``. ``Observer`` keeps watches on the benchmark's kinds and tells when a
condition over what it has seen first held (every object present, every workload ready, one
Deployment at a new spec, objects gone), stamped with the arrival time of the deciding event.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

PROJECT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = PROJECT / "hack" / "local-cluster"
START_TIMEOUT = 180.0  # seconds; about 20 on 2 cores with the KServe CRD
START_ATTEMPTS = 3
SAMPLE = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')

Key = tuple[str, str, str]  # kind, namespace, name


def proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of one process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_mib(pid: int) -> float:
    """Peak resident set (VmHWM) of one process in MiB; 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> dict[str, int]:
    """Command name -> pid of the direct children of ``pid``."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if int(text.rsplit(")", 1)[1].split()[1]) == pid:
                found[name] = int(stat.parent.name)
    return found


class RealCluster:
    """One ``hack/local-cluster up`` with every CRD given, until ``stop``."""

    def __init__(self, workdir: Path, crd_dirs: Iterable[Path], nodes: int = 2) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        crds = workdir / "crds"
        crds.mkdir()
        for directory in crd_dirs:  # `up` loads one directory: link every file into one
            for crd in sorted(directory.glob("*.yaml")):
                (crds / crd.name).symlink_to(crd)
        # kwok sometimes starts before kube-apiserver publishes a new CRD's OpenAPI and exits;
        # a fresh start gets past that race.
        for attempt in range(START_ATTEMPTS):
            line = self._start(workdir, crds, nodes)
            if line:
                break
            said = (workdir / "local-cluster.log").read_text(errors="replace").splitlines()
            if attempt == START_ATTEMPTS - 1:
                raise RuntimeError(f"hack/local-cluster up failed: {said[-3:]}")
        server, kubeconfig, kubectl = line.split()
        self.url = server
        self.kubeconfig = Path(kubeconfig.split("=", 1)[1])
        self.kubectl = kubectl.split("=", 1)[1]
        config = yaml.safe_load(self.kubeconfig.read_text())
        user = config["users"][0]["user"]
        for name, field in (
            ("client.crt", "client-certificate-data"),
            ("client.key", "client-key-data"),
        ):
            (workdir / name).write_bytes(base64.b64decode(user[field]))
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        self.context = ssl.create_default_context(cadata=ca.decode())
        self.context.load_cert_chain(str(workdir / "client.crt"), str(workdir / "client.key"))
        self.components = children(self.process.pid)

    def _start(self, workdir: Path, crds: Path, nodes: int) -> str:
        """The line `up` prints once ready; empty if it stopped first."""
        self._log = (workdir / "local-cluster.log").open("wb")
        command = [sys.executable, str(LOCAL_CLUSTER), "up", "--dir", str(workdir / "up")]
        command += ["--nodes", str(nodes)]
        self.process = subprocess.Popen(
            [*command, "--crds", str(crds)], stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        stdout = self.process.stdout
        assert stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
        reader.start()
        try:
            reader.join(START_TIMEOUT)
        except BaseException:  # a SIGTERM too: no caller holds the cluster yet to stop it
            self.stop()
            raise
        if not found or not found[0].strip():
            self.stop()
            return ""
        return found[0].strip()

    # -- requests

    def connection(self, timeout: float | None = 60.0) -> http.client.HTTPSConnection:
        where = urlsplit(self.url)
        return http.client.HTTPSConnection(
            where.hostname or "127.0.0.1", where.port, context=self.context, timeout=timeout
        )

    def call(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        connection = self.connection()
        try:
            headers = {"Content-Type": content_type or "application/json"}
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 400 and response.status != 409:
                raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
            if path.startswith("/metrics"):
                return payload.decode()
            return json.loads(payload) if payload else None
        finally:
            connection.close()

    def requests(self) -> Counter[tuple[str, str, str, str]]:
        """kube-apiserver's request counter so far: (verb, resource, subresource, dry_run)."""
        counts: Counter[tuple[str, str, str, str]] = Counter()
        for labels, value in SAMPLE.findall(self.call("GET", "/metrics")):
            found = dict(LABEL.findall(labels))
            key = (found.get("verb", ""), found.get("resource", ""))
            counts[(*key, found.get("subresource", ""), found.get("dry_run", ""))] += int(
                float(value)
            )
        return counts

    # -- the cluster's own cost

    def server_cpu(self) -> float:
        """CPU seconds of kube-apiserver and etcd so far."""
        return sum(proc_cpu(self.components.get(n, -1)) for n in ("kube-apiserver", "etcd"))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


# ---------------------------------------------------------------- what the cluster holds


WATCHED = {
    "Deployment": "/apis/apps/v1/deployments",
    "Service": "/api/v1/services",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v2/horizontalpodautoscalers",
    "Job": "/apis/batch/v1/jobs",
    "InferenceService": "/apis/serving.kserve.io/v1beta1/inferenceservices",
}
READY_CONDITION = {"Deployment": "Available", "Job": "Complete", "InferenceService": "Ready"}
SPEC_HASH = "mlops/spec-hash"
RETRY_WATCH = 0.5  # seconds before asking again for a watch the server refused


def is_ready(obj: dict[str, Any]) -> bool:
    wanted = READY_CONDITION.get(obj["kind"])
    if wanted is None:
        return True
    status = obj.get("status") or {}
    if obj["kind"] == "Deployment" and status.get("observedGeneration", 0) < obj["metadata"].get(
        "generation", 0
    ):
        return False
    return any(
        c.get("type") == wanted and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


class Observer:
    """Watches of every benchmark kind (one thread each) and waits on what they saw."""

    def __init__(
        self, cluster: RealCluster, expected: set[Key], selector: str, kinds: Iterable[str]
    ) -> None:
        self._cluster = cluster
        self._changed = threading.Lock()
        self.hashes: dict[Key, str] = {}
        self.missing = set(expected)
        self.unready: set[Key] = set()
        self._waiters: list[tuple[Callable[[], bool], threading.Event, list[float]]] = []
        self._stopped = threading.Event()
        self._connections: list[http.client.HTTPSConnection] = []
        for kind in kinds:
            query = {"watch": "true", "labelSelector": selector, "allowWatchBookmarks": "true"}
            thread = threading.Thread(target=self._watch, args=(WATCHED[kind], query), daemon=True)
            thread.start()

    def _watch(self, path: str, query: dict[str, str]) -> None:
        version = ""
        while not self._stopped.is_set():
            connection = self._cluster.connection(timeout=None)
            self._connections.append(connection)
            asked = {**query, **({"resourceVersion": version} if version else {})}
            # Closing the watch ends the read with whichever error the socket's state gives.
            with contextlib.suppress(
                OSError, ValueError, AttributeError, http.client.HTTPException
            ):
                connection.request("GET", f"{path}?{urlencode(asked)}")
                response = connection.getresponse()
                if response.status != 200:
                    # A busy server may refuse a watch (429) or fail one (5xx): ask again soon.
                    response.read()
                    self._stopped.wait(RETRY_WATCH)
                while response.status == 200 and (line := response.readline()):
                    event = json.loads(line)
                    obj = event.get("object")
                    if event.get("type") == "ERROR" or not isinstance(obj, dict):
                        version = ""  # 410 Gone or a broken stream: from a fresh list again
                        break
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        self._seen(time.time(), event["type"], obj)
            connection.close()

    def _seen(self, when: float, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        with self._changed:
            if kind == "DELETED":
                self.hashes.pop(key, None)
                self.unready.discard(key)
            else:
                self.hashes[key] = (meta.get("annotations") or {}).get(SPEC_HASH, "")
                self.missing.discard(key)
                if is_ready(obj):
                    self.unready.discard(key)
                else:
                    self.unready.add(key)
            for waiter in list(self._waiters):
                test, done, at = waiter
                if test():
                    at.append(when)
                    done.set()
                    self._waiters.remove(waiter)

    def wait(self, test: Callable[[], bool], timeout: float, what: str) -> float:
        """The arrival time of the event after which ``test`` held (now, if it already does)."""
        done, at = threading.Event(), []
        with self._changed:
            if test():
                return time.time()
            self._waiters.append((test, done, at))
        if not done.wait(timeout):
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        return at[0]

    def all_present(self) -> bool:
        return not self.missing

    def settled(self) -> bool:
        return not self.missing and not self.unready

    def close(self) -> None:
        self._stopped.set()
        for connection in self._connections:
            with contextlib.suppress(OSError, AttributeError):
                connection.sock.shutdown(2)  # type: ignore[union-attr]
            connection.close()
