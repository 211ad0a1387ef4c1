"""Flux beside the reconciler: its controllers as processes, a Git server, its objects.

``flux_home()`` asks ``hack/flux/build`` where the pinned source-controller and
kustomize-controller (and their CRDs) are; ``GitHttp`` serves a bare repository over Git's smart
HTTP on loopback (``git http-backend`` behind a small threaded server, read only);
``FluxControllers`` runs both controllers against a cluster with the settings Flux documents for
scale, creates the GitRepository and one Kustomization per team folder, and triggers them as
Flux's webhook receiver does (the ``reconcile.fluxcd.io/requestedAt`` annotation).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from realcluster import RealCluster, proc_cpu, proc_peak_mib

PROJECT = Path(__file__).resolve().parent.parent
BUILD = PROJECT / "hack" / "flux" / "build"
NAMESPACE = "flux-system"
REPOSITORY = "manifests"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
# Flux's vertical-scaling guide: more workers, a short dependency requeue, kustomize builds on
# tmpfs. The API client limits stay at the controllers' defaults (qps 50, burst 300).
SCALE_FLAGS = ("--concurrent=10", "--requeue-dependency=5s")
INTERVAL = "60m"  # no periodic reconcile inside a run: every one is triggered


def flux_home(build: bool) -> Path | None:
    """Where the built controllers are; None when not built and ``build`` is false."""
    command = [str(BUILD)] + ([] if build else ["--no-build"])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 4 and not build:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"hack/flux/build failed: {done.stderr.strip()[-500:]}")
    return Path(done.stdout.strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


class GitHttp:
    """Read-only smart HTTP for the bare repositories under ``root``, on loopback."""

    def __init__(self, root: Path) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no chunking to write

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._cgi()

            def do_POST(self) -> None:
                self._cgi()

            def _cgi(self) -> None:
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull,
                }
                done = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class FluxControllers:
    """source-controller and kustomize-controller as processes against ``cluster``."""

    def __init__(self, home: Path, workdir: Path, cluster: RealCluster) -> None:
        self.cluster = cluster
        workdir.mkdir(parents=True, exist_ok=True)
        storage_port = free_port()
        self.metrics = {name: free_port() for name in ("source", "kustomize")}
        self.health = {name: free_port() for name in ("source", "kustomize")}
        # The guide's tmpfs for kustomize builds; /dev/shm is one where it exists.
        tmp = Path("/dev/shm") if Path("/dev/shm").is_dir() else workdir
        self._tmp = Path(tmp / f"flux-tmp-{os.getpid()}-{storage_port}")
        self._tmp.mkdir()
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "RUNTIME_NAMESPACE": NAMESPACE,
            "TMPDIR": str(self._tmp),
        }
        common = [
            *SCALE_FLAGS,
            "--enable-leader-election=false",
            "--watch-all-namespaces=true",
            "--log-level=info",
        ]
        (workdir / "storage").mkdir()
        self._logs = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, extra in (
                (
                    "source",
                    [
                        f"--storage-path={workdir / 'storage'}",
                        f"--storage-addr=127.0.0.1:{storage_port}",
                        f"--storage-adv-addr=127.0.0.1:{storage_port}",
                    ],
                ),
                ("kustomize", ["--no-remote-bases=true"]),
            ):
                log = (workdir / f"{name}-controller.log").open("wb")
                self._logs.append(log)
                self.processes[name] = subprocess.Popen(
                    [
                        str(home / "bin" / f"{name}-controller"),
                        *common,
                        *extra,
                        f"--metrics-addr=127.0.0.1:{self.metrics[name]}",
                        f"--health-addr=127.0.0.1:{self.health[name]}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            cluster.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
            self._wait_ready(workdir)
        except BaseException:  # a SIGTERM too: no caller holds the controllers yet to stop them
            self.stop()
            raise

    def _wait_ready(self, workdir: Path, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for name, port in self.health.items():
            while True:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name}-controller exited; see {workdir}")
                if _answers(f"http://127.0.0.1:{port}/readyz"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}-controller not ready in {timeout:.0f} s")
                time.sleep(0.1)

    def create(self, url: str, teams: list[str]) -> None:
        """The GitRepository and one Kustomization per team folder."""
        base = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/gitrepositories"
        self.cluster.call(
            "POST",
            base,
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": REPOSITORY, "namespace": NAMESPACE},
                "spec": {"interval": INTERVAL, "url": url, "ref": {"branch": "main"}},
            },
        )
        for team in teams:
            self.cluster.call(
                "POST",
                f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations",
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": team, "namespace": NAMESPACE},
                    "spec": {
                        "interval": INTERVAL,
                        "path": f"./{team}",
                        "prune": True,
                        "wait": False,
                        "timeout": "10m",
                        "sourceRef": {"kind": "GitRepository", "name": REPOSITORY},
                    },
                },
            )

    def request(self, plural: str, group: str, name: str) -> str:
        """Annotate one object as the webhook receiver does; the token it handles."""
        token = f"{time.time():.6f}"
        self.cluster.call(
            "PATCH",
            f"/apis/{group}/v1/namespaces/{NAMESPACE}/{plural}/{name}",
            {"metadata": {"annotations": {REQUESTED_AT: token}}},
            content_type="application/merge-patch+json",
        )
        return token

    def trigger_source(self) -> str:
        return self.request("gitrepositories", "source.toolkit.fluxcd.io", REPOSITORY)

    def kustomizations(self) -> list[dict[str, Any]]:
        found = self.cluster.call(
            "GET", f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations"
        )
        return found["items"]

    def handled(self, token: str) -> bool:
        """Every Kustomization handled the request ``token`` and is Ready."""
        return all(
            (k.get("status") or {}).get("lastHandledReconcileAt") == token
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (k.get("status") or {}).get("conditions", [])
            )
            for k in self.kustomizations()
        )

    def reconcile_all(self, teams: list[str], timeout: float) -> float:
        """Ask every Kustomization to reconcile (Flux's interval run); seconds until all did."""
        begun = time.time()
        token = f"{begun:.6f}"
        for team in teams:
            self.cluster.call(
                "PATCH",
                f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations/{team}",
                {"metadata": {"annotations": {REQUESTED_AT: token}}},
                content_type="application/merge-patch+json",
            )
        deadline = time.monotonic() + timeout
        while not self.handled(token):
            if time.monotonic() > deadline:
                raise RuntimeError("Flux did not handle the reconcile request in time")
            time.sleep(0.1)
        return time.time() - begun

    def cpu(self) -> float:
        return sum(proc_cpu(p.pid) for p in self.processes.values())

    def peak_mib(self) -> float:
        return sum(proc_peak_mib(p.pid) for p in self.processes.values())

    def own_metrics(self) -> dict[str, str]:
        """Each controller's /metrics text."""
        found = {}
        for name, port in self.metrics.items():
            url = f"http://127.0.0.1:{port}/metrics"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=10) as reply:
                found[name] = reply.read().decode()
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
