"""A webhook receiver on 127.0.0.1 for tests: records every POST, answers from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])  # statuses for the first POSTs; then 200
        self.attempts: list[tuple[str, Any]] = []  # (path, body) of every POST
        self.received: list[Any] = []  # bodies answered with 200
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, path: str, body: Any) -> int:
        with self.lock:
            self.attempts.append((path, body))
            status = self.answers.pop(0) if self.answers else 200
            if status == 200:
                self.received.append(body)
            return status


@contextmanager
def receiving(
    answers: list[int] | None = None, path: str = "/hooks/T000/secret"
) -> Iterator[Receiver]:
    receiver = Receiver(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            status = receiver.answer(self.path, body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
