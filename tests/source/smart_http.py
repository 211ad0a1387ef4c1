"""Git over HTTP for tests: ``git http-backend`` behind Basic auth, and servers that hang.

``smart_http(root, user, token)`` serves the bare repositories under ``root`` the way a Git host
does (smart HTTP, fetch and push), answering 401 to any request without those credentials; with
``hang_pushes`` it serves fetches but never answers a push.
``silent_server()`` accepts connections and never answers; ``stalling_server()`` answers a
request's headers and a first line of the body, then says nothing more.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _backend(
    root: Path, user: str, token: str, hang: threading.Event | None
) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: no chunked replies to write

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            if hang is not None and "git-receive-pack" in self.path:
                hang.wait()  # until the server is shut down
                return
            body = self._body()
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": user,  # http-backend allows pushes from an authenticated user
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
            status = 200
            headers = []
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

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b""  # libgit2 sends a push's pack chunked
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return body

    return Handler


@contextmanager
def smart_http(root: Path, user: str, token: str, hang_pushes: bool = False) -> Iterator[str]:
    """Serve ``root`` over smart HTTP on loopback; yields the base URL (no trailing slash)."""
    hang = threading.Event() if hang_pushes else None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _backend(root, user, token, hang))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if hang is not None:
            hang.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def _hanging(answer: bytes | None) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so the loop sees stop: close() does not wake accept()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            held.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/org/repo.git"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


def silent_server() -> AbstractContextManager[str]:
    """Accepts every connection and never sends a byte."""
    return _hanging(None)


def stalling_server() -> AbstractContextManager[str]:
    """Answers headers that promise a ref advertisement, sends its first line, then stalls."""
    first = b"001e# service=git-upload-pack\n"
    return _hanging(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/x-git-upload-pack-advertisement\r\n"
        b"Content-Length: 100000\r\n\r\n" + first
    )
