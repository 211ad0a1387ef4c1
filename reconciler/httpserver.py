"""The service's HTTP port: /healthz, /readyz, /metrics, and any POST routes added to it.

Liveness says the process is making progress (``liveness``, by default always true); readiness
says the first reconcile has happened and the source can be fetched, so a replica that cannot
reach Git is taken out of rotation but kept alive (it still keeps the last good revision applied).

The port faces the network (webhooks come from the Git host), so it is served by waitress rather
than by a hand-written server. Waitress reads each request completely in one asynchronous loop
before a worker thread sees it: a client that sends half a request, or sends it slowly, holds a
socket (dropped after ``timeout`` seconds of silence, at most ``CONNECTION_LIMIT`` of them) but
never a thread. Request bodies are bounded (``MAX_BODY``, also when chunked), and a malformed or
missing ``Content-Length`` is refused before anything is read.

Probes share the port with webhooks, so POST handlers run at most ``POST_CONCURRENCY`` at a time
out of ``THREADS`` workers: whatever a webhook handler does, the remaining workers are free for
``/healthz``, ``/readyz`` and ``/metrics``. A POST that finds every webhook slot taken is answered
503 with ``Retry-After`` at once instead of waiting for one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from waitress.server import create_server

MAX_BODY = 1 << 20  # bytes; larger POST bodies get 413 without being read
DEFAULT_TIMEOUT = 10  # seconds a connection may stay silent before it is dropped
THREADS = 4  # workers answering complete requests
POST_CONCURRENCY = 2  # of those, how many may run POST handlers at once
# Sockets held open at once; past this, new connections wait in the listen backlog until idle
# ones time out. Far above what a Git host and the kubelet open, well under a pod's file limit.
CONNECTION_LIMIT = 1000


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


PostHandler = Callable[[dict[str, str], bytes], Response]
Probe = Callable[[], tuple[bool, str]]


def _always_live() -> tuple[bool, str]:
    return True, "ok"


class ServiceServer:
    """Binds ``host:port`` at construction (so ``port`` is known), serves from ``start()``."""

    def __init__(
        self,
        port: int,
        registry: CollectorRegistry,
        readiness: Probe,
        host: str = "0.0.0.0",
        liveness: Probe = _always_live,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> None:
        self._registry = registry
        self._readiness = readiness
        self._liveness = liveness
        self._posts: dict[str, PostHandler] = {}
        self._post_slots = threading.BoundedSemaphore(POST_CONCURRENCY)
        self._stopping = False
        self._server = create_server(
            self._wsgi,
            host=host,
            port=port,
            threads=THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=timeout,
            # Idle connections are looked for every second, so one goes within timeout + 2 s.
            cleanup_interval=1,
            # waitress refuses a body whose length is at or above its limit.
            max_request_body_size=MAX_BODY + 1,
            max_request_header_size=64 * 1024,
            # select() stops at 1,024 descriptors; poll() has no such ceiling.
            asyncore_use_poll=True,
            ident="reconciler",
            expose_tracebacks=False,
        )
        self._thread = threading.Thread(target=self._serve, name="http-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def add_post(self, path: str, handler: PostHandler) -> None:
        self._posts[path] = handler

    def get(self, path: str) -> Response:
        if path == "/healthz":
            live, why = self._liveness()
            return Response(200 if live else 503, (why + "\n").encode())
        if path == "/readyz":
            ready, why = self._readiness()
            return Response(200 if ready else 503, (why + "\n").encode())
        if path == "/metrics":
            return Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        return Response(404, b"not found\n")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Close the port and every connection, and end the loop and worker threads."""
        self._stopping = True
        if self._thread.is_alive():
            # Wakes the loop at once instead of at its next poll. The loop may have seen
            # _stopping and closed the trigger already: then there is nothing left to wake.
            with contextlib.suppress(OSError):
                self._server.pull_trigger()
            self._thread.join()
        else:
            self._close()

    def _serve(self) -> None:
        # One loop iteration at a time, so stop() can end it between two.
        try:
            while not self._stopping:
                self._server.asyncore.loop(
                    timeout=1.0, map=self._server._map, use_poll=True, count=1
                )
        finally:
            self._close()

    def _close(self) -> None:
        self._server.task_dispatcher.shutdown()
        self._server.asyncore.close_all(self._server._map)

    def _post(self, path: str, environ: dict[str, Any]) -> Response:
        handler = self._posts.get(path)
        if handler is None:
            return Response(404, b"not found\n")
        # waitress has already refused a malformed length (400) and an oversize body (413), and
        # turned a chunked body into a length; no length at all is refused here.
        length = environ.get("CONTENT_LENGTH")
        if not length:
            return Response(411, b"length required\n")
        if not self._post_slots.acquire(blocking=False):
            return Response(503, b"busy, retry shortly\n", headers=(("Retry-After", "1"),))
        try:
            body = environ["wsgi.input"].read(int(length))
            return handler(_headers(environ), body)
        finally:
            self._post_slots.release()

    def _wsgi(
        self, environ: dict[str, Any], start_response: Callable[..., object]
    ) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if method == "GET":
            response = self.get(path)
        elif method == "POST":
            response = self._post(path, environ)
        else:
            response = Response(405, b"method not allowed\n", headers=(("Allow", "GET, POST"),))
        start_response(
            f"{response.status} {HTTPStatus(response.status).phrase}",
            [
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
                *response.headers,
            ],
        )
        return [response.body]


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers with lower-case, dash-separated names, as the POST handlers take them."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers
