"""Helpers of the reliability tests: probe a service's port, run a Service in the background."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.service import Service


def probe(service: Service, path: str) -> tuple[int, str]:
    """Status and body of GET ``path`` on the service's port."""
    assert service.server is not None
    url = f"http://127.0.0.1:{service.server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def free_port() -> int:
    """A loopback port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def in_background(service: Service) -> Iterator[Service]:
    """``start`` then ``run_forever`` on a thread, as ``reconciler run`` does on its main one:
    start may block (retrying an unreachable API server) while the probes already answer."""

    def main() -> None:
        service.start()
        if not service.engine.stopping.is_set():
            service.run_forever()

    thread = threading.Thread(target=main, name="service", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(10)
        assert not thread.is_alive(), "the service did not stop"
