"""The service port under hostile or clumsy clients, spoken to over raw sockets.

Each test talks to a real ServiceServer on loopback with a one-second socket timeout. A request
that must be refused "without reading the body" is sent as headers only: the answer has to come
back while the body is still owed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest
from prometheus_client import CollectorRegistry

from reconciler.httpserver import MAX_BODY, POST_CONCURRENCY, Response, ServiceServer
from tests.waiting import wait_for

HOOK = "/hooks/test"
TIMEOUT = 1  # seconds of silence before the server drops a connection


class Calls:
    """A POST handler that records the bodies it was given."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, headers: dict[str, str], body: bytes) -> Response:
        self.bodies.append(body)
        return Response(202, b"accepted\n")


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def server(calls: Calls) -> Iterator[ServiceServer]:
    server = ServiceServer(
        0, CollectorRegistry(), lambda: (True, "ready"), host="127.0.0.1", timeout=TIMEOUT
    )
    server.add_post(HOOK, calls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(server: ServiceServer, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def status_of(sock: socket.socket) -> int:
    """The status code of the next response on ``sock`` (reads until the status line is in)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a status line: {data!r}")
        data += chunk
    return int(data.split(b" ", 2)[1])


def exchange(server: ServiceServer, raw: bytes) -> int:
    with closing(connect(server)) as sock:
        sock.sendall(raw)
        return status_of(sock)


def get(server: ServiceServer, path: str) -> tuple[int, float]:
    """Status of GET ``path`` and how long the answer took."""
    started = time.monotonic()
    status = exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return status, time.monotonic() - started


def post_head(length: str | None, extra: str = "") -> bytes:
    header = "" if length is None else f"Content-Length: {length}\r\n"
    return f"POST {HOOK} HTTP/1.1\r\nHost: x\r\n{header}{extra}\r\n".encode()


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "0x10", "+5", "5, 5"])
def test_malformed_content_length_is_refused_without_reading(
    server: ServiceServer, calls: Calls, length: str
) -> None:
    # A negative length used to mean "read until the client hangs up": the answer never came.
    assert exchange(server, post_head(length)) == 400
    assert calls.bodies == []


def test_missing_content_length_on_post_is_refused(server: ServiceServer, calls: Calls) -> None:
    assert exchange(server, post_head(None)) == 411
    assert calls.bodies == []


def test_oversize_declared_body_is_refused_without_reading(
    server: ServiceServer, calls: Calls
) -> None:
    assert exchange(server, post_head(str(MAX_BODY + 1))) == 413
    assert exchange(server, post_head(str(1 << 40))) == 413
    assert calls.bodies == []


def test_body_at_the_limit_is_accepted(server: ServiceServer, calls: Calls) -> None:
    body = b"x" * MAX_BODY
    assert exchange(server, post_head(str(MAX_BODY)) + body) == 202
    assert calls.bodies == [body]


def test_chunked_body_is_bounded_the_same_way(server: ServiceServer, calls: Calls) -> None:
    small = b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
    assert exchange(server, post_head(None, "Transfer-Encoding: chunked\r\n") + small) == 202
    assert calls.bodies == [b"abcdefg"]
    chunk = b"x" * 65536
    with closing(connect(server)) as sock:
        sock.sendall(post_head(None, "Transfer-Encoding: chunked\r\n"))
        try:
            for _ in range(MAX_BODY // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and hung up before the rest was sent
        assert status_of(sock) == 413
    assert calls.bodies == [b"abcdefg"]


def test_half_sent_requests_neither_starve_probes_nor_stay_open(server: ServiceServer) -> None:
    threads_before = threading.active_count()
    attackers: list[socket.socket] = []
    try:
        for n in range(200):
            sock = connect(server)
            attackers.append(sock)
            if n % 2:
                sock.sendall(post_head("100") + b"only ten b")  # the body never completes
            else:
                sock.sendall(b"POST /hooks/test HTTP/1.1\r\nHost: x\r\nContent-Le")
        for path in ("/healthz", "/readyz", "/healthz", "/readyz"):
            status, took = get(server, path)
            assert status == 200
            assert took < 1.0, f"{path} took {took:.2f}s during the attack"
        # Connections cost the server sockets, not threads.
        assert threading.active_count() <= threads_before + 1

        def all_dropped() -> bool:
            return all(_closed_by_peer(sock) for sock in attackers)

        wait_for(all_dropped, timeout=TIMEOUT + 4, what="half-open connections dropped")
    finally:
        for sock in attackers:
            sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_slow_post_handlers_cannot_starve_probes(server: ServiceServer) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    def stuck(headers: dict[str, str], body: bytes) -> Response:
        entered.release()
        release.wait(10)
        return Response(202)

    server.add_post(HOOK, stuck)
    held = [connect(server, timeout=10) for _ in range(POST_CONCURRENCY)]
    try:
        for sock in held:
            sock.sendall(post_head("2") + b"{}")
        for _ in held:
            assert entered.acquire(timeout=5)
        # Every webhook slot is taken: more POSTs are turned away at once, probes still answer.
        assert exchange(server, post_head("2") + b"{}") == 503
        for path in ("/healthz", "/readyz", "/metrics"):
            status, took = get(server, path)
            assert (status, took < 1.0) == (200, True)
    finally:
        release.set()
    for sock in held:
        with closing(sock):
            assert status_of(sock) == 202


def test_liveness_decides_healthz() -> None:
    server = ServiceServer(
        0,
        CollectorRegistry(),
        lambda: (True, "ready"),
        host="127.0.0.1",
        liveness=lambda: (False, "worker stuck for 300s"),
    )
    server.start()
    try:
        with closing(connect(server)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 503")
        assert reply.endswith(b"\r\n\r\nworker stuck for 300s\n")
    finally:
        server.stop()


def test_stop_leaves_no_thread_or_port_behind() -> None:
    before = set(threading.enumerate())
    server = ServiceServer(0, CollectorRegistry(), lambda: (True, "ready"), host="127.0.0.1")
    server.start()
    port = server.port
    assert get(server, "/healthz")[0] == 200
    idle = connect(server)  # an open keep-alive connection must not keep anything alive
    try:
        server.stop()
    finally:
        idle.close()
    assert set(threading.enumerate()) <= before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with closing(socket.socket()) as again:
        # As a restarted server would: only a socket still listening would be in the way.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
