"""The service's HTTP port: /healthz, /readyz, /metrics, and any POST routes added to it.

Liveness says the process answers; readiness says the first reconcile has happened and the
source can be fetched, so a replica that cannot reach Git is taken out of rotation but kept alive
(it still keeps the last good revision applied).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_BODY = 1 << 20  # bytes; larger POST bodies get 413 without being read


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


PostHandler = Callable[[dict[str, str], bytes], Response]


class ServiceServer:
    def __init__(
        self,
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], tuple[bool, str]],
        host: str = "0.0.0.0",
    ) -> None:
        self._registry = registry
        self._readiness = readiness
        self._posts: dict[str, PostHandler] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # requests are counted in metrics; per-request lines would drown the logs

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def do_GET(self) -> None:
                self._send(server.get(self.path.split("?", 1)[0]))

            def do_POST(self) -> None:
                handler = server._posts.get(self.path.split("?", 1)[0])
                length = int(self.headers.get("Content-Length") or 0)
                if handler is None:
                    self.close_connection = True
                    self._send(Response(404, b"not found\n"))
                    return
                if length > MAX_BODY:
                    self.close_connection = True
                    self._send(Response(413, b"payload too large\n"))
                    return
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                self._send(handler(headers, body))

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        # A short poll interval so stop() returns promptly instead of after the default half second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def add_post(self, path: str, handler: PostHandler) -> None:
        self._posts[path] = handler

    def get(self, path: str) -> Response:
        if path == "/healthz":
            return Response(200, b"ok\n")
        if path == "/readyz":
            ready, why = self._readiness()
            return Response(200 if ready else 503, (why + "\n").encode())
        if path == "/metrics":
            return Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        return Response(404, b"not found\n")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
