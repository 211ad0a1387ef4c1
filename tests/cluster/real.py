"""A real control plane for tests: ``hack/local-cluster`` run as a subprocess."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CLUSTER = ROOT / "hack" / "local-cluster"
CRDS = ROOT.parent / "shared" / "crds"
NOT_BUILT = 4  # `hack/local-cluster up`'s exit status when the binaries are not built


class Unavailable(Exception):
    """This machine cannot run a real control plane; the message says why, in one line."""


@dataclass(frozen=True)
class RealCluster:
    server: str
    kubeconfig_path: Path
    kubectl: Path
    """The kubectl built with the control plane (the one on PATH may be versions older)."""
    directory: Path


class Booting:
    """``hack/local-cluster up``, started; ``ready()`` waits until it serves."""

    def __init__(self, process: subprocess.Popen[bytes], directory: Path, timeout: float) -> None:
        self._process = process
        self._directory = directory
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._ready: RealCluster | None = None

    def ready(self) -> RealCluster:
        if self._ready is None:
            self._ready = self._wait()
        return self._ready

    def _wait(self) -> RealCluster:
        process, log = self._process, self._directory / "up.log"
        line = _first_line(process, self._deadline, self._timeout)
        if not line and process.wait() == NOT_BUILT:
            raise Unavailable(log.read_text().strip().splitlines()[-1])
        if not line:
            raise RuntimeError(
                f"hack/local-cluster up exited with {process.wait()}: " + log.read_text()[-2000:]
            )
        server, *fields = line.split()
        named = dict(field.split("=", 1) for field in fields)
        return RealCluster(
            server, Path(named["kubeconfig"]), Path(named["kubectl"]), self._directory
        )


@contextmanager
def booting_real_cluster(
    directory: Path, *options: str, crds: bool = True, timeout: float = 180
) -> Iterator[Booting]:
    """``hack/local-cluster up`` in ``directory`` until the block ends, then SIGTERM; with the
    upstream CRDs when ``crds`` and they are present. It boots while the block goes on."""
    command = [sys.executable, str(LOCAL_CLUSTER), "up", "--dir", str(directory), *options]
    if crds and CRDS.is_dir():
        command += ["--crds", str(CRDS)]
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "up.log", "wb") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
        )
    try:
        yield Booting(process, directory, timeout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.stdout is not None
        process.stdout.close()


@contextmanager
def running_real_cluster(
    directory: Path, *options: str, crds: bool = True, timeout: float = 180
) -> Iterator[RealCluster]:
    """``booting_real_cluster``, once it serves."""
    with booting_real_cluster(directory, *options, crds=crds, timeout=timeout) as booting:
        yield booting.ready()


def _first_line(process: subprocess.Popen[bytes], deadline: float, timeout: float) -> str:
    """The line ``up`` prints once the cluster is ready; empty when it exits first."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"hack/local-cluster up was not ready within {timeout:.0f}s")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            data += chunk
    return data.decode().splitlines()[0]
