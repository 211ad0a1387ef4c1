"""A real Prometheus on loopback scraping a tiny exporter the test controls.

The exporter serves, per registered canary, the series the deployment runtime's built-in
metrics read (``http_requests_total``, ``http_request_duration_seconds``) and a model metric
(``model_prediction_mean``) for the stable and the canary pods. Counters grow at a fixed rate
from registration, so ``rate()`` over any window sees that rate.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3

from tests.waiting import wait_for

BINARY = "/usr/bin/prometheus"
SCRAPE_INTERVAL = "1s"
REQUESTS_PER_SECOND = 50.0
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Behaviour:
    success: float = 1.0  # share of requests answered without a 5xx
    latency: float = 0.08  # seconds every request takes
    prediction: float = 0.5  # the model's mean prediction


GOOD = Behaviour()
BAD = Behaviour(success=0.9, latency=0.4, prediction=0.9)


@dataclass(frozen=True)
class _Pod:
    namespace: str
    deployment: str
    pod: str
    behaviour: Behaviour
    since: float


class Exporter:
    """``/metrics`` for the pods registered with ``serve``."""

    def __init__(self) -> None:
        self._pods: list[_Pod] = []
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, namespace: str, name: str, stable: Behaviour, canary: Behaviour) -> None:
        """Series for the stable pod ``<name>-...`` and the canary pod ``<name>-canary-...``."""
        now = time.monotonic()
        with self._lock:
            self._pods.append(_Pod(namespace, name, f"{name}-5d8f7-x2x9k", stable, now))
            self._pods.append(
                _Pod(namespace, f"{name}-canary", f"{name}-canary-6c9b4-q7r2m", canary, now)
            )

    def text(self) -> str:
        lines = [
            "# TYPE http_requests_total counter",
            "# TYPE http_request_duration_seconds histogram",
            "# TYPE model_prediction_mean gauge",
        ]
        now = time.monotonic()
        with self._lock:
            pods = list(self._pods)
        for pod in pods:
            labels = f'namespace="{pod.namespace}",pod="{pod.pod}"'
            total = REQUESTS_PER_SECOND * (now - pod.since)
            ok = total * pod.behaviour.success
            lines.append(f'http_requests_total{{{labels},code="200"}} {ok}')
            lines.append(f'http_requests_total{{{labels},code="500"}} {total - ok}')
            for bound in BUCKETS:
                count = total if pod.behaviour.latency <= bound else 0.0
                lines.append(
                    f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}'
                )
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {total}")
            lines.append(
                f"http_request_duration_seconds_sum{{{labels}}} {total * pod.behaviour.latency}"
            )
            deployment = f'namespace="{pod.namespace}",deployment="{pod.deployment}"'
            lines.append(f"model_prediction_mean{{{deployment}}} {pod.behaviour.prediction}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Prometheus:
    """``/usr/bin/prometheus`` scraping ``targets`` every second; stop and start it again on
    the same port and storage to play an outage."""

    def __init__(self, root: Path, targets: list[str]) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = root / "prometheus.yml"
        quoted = ", ".join(f'"{target}"' for target in targets)
        self.config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: models\n    honor_labels: true\n"
            f"    static_configs:\n      - targets: [{quoted}]\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(2.0), retries=False)

    def start(self) -> None:
        log = (self.root / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_for(self._scraped, 30, 0.1, what="Prometheus to answer with a scraped target")

    def _scraped(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.root / "prometheus.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"prometheus exited with {self.process.returncode}: {log}")
        return self.has_data('up{job="models"} == 1')

    def has_data(self, query: str) -> bool:
        try:
            answer = self._http.request("GET", f"{self.url}/api/v1/query", fields={"query": query})
        except urllib3.exceptions.HTTPError:
            return False
        return answer.status == 200 and bool(answer.json()["data"]["result"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def require_prometheus() -> None:
    """Skip without the binary; under CI=true that is a failure (CI installs it)."""
    if shutil.which(BINARY) is not None:
        return
    why = f"{BINARY} is not installed (Debian package prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI runs the progressive-delivery tests against Prometheus, but: {why}")
    pytest.skip(why)
