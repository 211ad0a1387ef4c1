"""The HTTP layer: HTTP/1.1 with keep-alive, bearer-token auth, routing, faults and counters.

Routes: ``/version``, ``/healthz``; discovery under ``/api`` and ``/apis``; ``/openapi/v3``;
resources at ``/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]`` and the same under
``/apis/{group}/{version}``; the control surface under ``/sandbox/``. Every request needs the
sandbox's bearer token (401 otherwise). Errors are Status bodies; warnings are
``Warning: 299 - "..."`` headers; watches are chunked newline-delimited JSON.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import select
import socket
import ssl
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from reconciler_sandbox import errors
from reconciler_sandbox.discovery import SERVER_VERSION, ResourceType
from reconciler_sandbox.store import dumps

if TYPE_CHECKING:
    from reconciler_sandbox.core import Sandbox

log = structlog.get_logger("reconciler_sandbox")


@dataclass
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Sandbox, tls: ssl.SSLContext | None) -> None:
        self.app = app
        super().__init__(address, Handler)
        if tls is not None:
            # The handshake happens on the handler thread's first read, never in accept().
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


class _Dropped(Exception):
    """The request matched a fault that drops the connection."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    server_version = "reconciler-sandbox"
    # Idle keep-alive connections are closed after this many seconds of silence from the client.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        # Small responses must not wait for the client's delayed ACK (Nagle's algorithm).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are counted, not logged: logging each one halves throughput

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ------------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        self.params = dict(parse_qsl(url.query, keep_blank_values=True))
        self.method = method
        try:
            body = self._read_body()
            self._authorize()
            self._route(method, url.path.rstrip("/") or "/", body)
        except errors.StatusError as exc:
            self._send(exc.code, dumps(exc.body()), headers=exc.headers)
        except _Dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client went away (reset, broken pipe, TLS EOF)
            self.close_connection = True
        except Exception as exc:
            log.exception("request failed", method=method, path=url.path)
            error = errors.internal(f"{type(exc).__name__}: {exc}")
            self._send(500, dumps(error.body()))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorize(self) -> None:
        sent = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.app.token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise errors.unauthorized()

    def _route(self, method: str, path: str, body: bytes) -> None:
        app = self.server.app
        if path.startswith("/sandbox/"):
            code, payload = app.control_request(method, path, body)
            self._send(code, dumps(payload))
            return
        if method == "GET":
            static = self._static(path)
            if static is not None:
                self._send(200, static)
                return
        target = self._target(path)
        verb = _verb(method, target, self.params)
        resource = target.rt.resource + (f"/{target.subresource}" if target.subresource else "")
        app.control.count(verb, resource)
        fault = app.control.take_fault(verb, resource, target.name or "")
        if fault is not None:
            if fault.latency:
                time.sleep(fault.latency)
            if fault.drop:
                raise _Dropped
            if fault.status is not None:
                raise fault.error()
        self._resource(verb, target, body)

    def _static(self, path: str) -> bytes | None:
        app = self.server.app
        registry = app.registry
        if path == "/version":
            return dumps(SERVER_VERSION)
        if path in ("/healthz", "/readyz", "/livez"):
            return b"ok"
        if path == "/api":
            return dumps(registry.api_versions(f"127.0.0.1:{app.port}"))
        if path == "/apis":
            return dumps(registry.api_group_list())
        if path == "/openapi/v3":
            return app.openapi.index()
        if path.startswith("/openapi/v3/"):
            return app.openapi.document(path.removeprefix("/openapi/v3/"))
        if path.startswith("/openapi/"):
            raise errors.path_not_found()
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"]:
            return dumps(registry.resource_list("v1"))
        if parts[0] == "apis" and len(parts) == 2:
            return dumps(registry.api_group(parts[1]))
        if parts[0] == "apis" and len(parts) == 3:
            return dumps(registry.resource_list(f"{parts[1]}/{parts[2]}"))
        return None

    def _target(self, path: str) -> Target:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            gv, rest = "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise errors.path_not_found()
        registry = self.server.app.registry
        namespace = None
        namespace_subresource = len(rest) == 3 and rest[2] in ("status", "finalize")
        if len(rest) >= 3 and rest[0] == "namespaces" and not namespace_subresource:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.path_not_found()
        rt = registry.lookup(gv, rest[0])
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise errors.path_not_found()
        if rt.namespaced and namespace is None and name is not None:
            raise errors.path_not_found()
        return Target(rt, namespace, name, sub)

    def _resource(self, verb: str, target: Target, body: bytes) -> None:
        app = self.server.app
        if verb == "watch":
            lines = app.watch(target.rt, target.namespace, self.params, self._client_alive)
            self._stream(lines)
            return
        code, payload, warnings = app.serve(verb, target, self.params, body, self.headers)
        self._send(code, payload, headers={}, warnings=warnings)

    def _client_alive(self) -> bool:
        """False once the client has closed its end (readable with nothing to read).

        A watching client sends nothing more on its connection, so reading here loses nothing.
        """
        connection = self.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            if not readable:
                return True
            connection.settimeout(0)
            try:
                return bool(connection.recv(1))
            finally:
                connection.settimeout(self.timeout)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        except (OSError, ValueError):
            return False

    # ------------------------------------------------------------------------------------

    def _send(
        self,
        code: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        warnings: list[str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        for text in warnings or ():
            self.send_header("Warning", "299 - " + json.dumps(text))
        # Headers and body leave in one write: one packet for a small response.
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def _stream(self, lines: Any) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            for line in lines:
                self._chunk(line)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            lines.close()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _verb(method: str, target: Target, params: dict[str, str]) -> str:
    if method == "GET":
        if target.name is not None:
            return "get"
        return "watch" if params.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if target.name is not None else "deletecollection"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if (method == "POST") != (target.name is None):
        raise errors.method_not_allowed(method, target.rt.resource)
    return verbs[method]
