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
BOOT_TIMEOUT = 300
"""Seconds ``up`` may take to serve. About 20 on 2 idle cores; two boots beside busy tests took
95, and a CPU burner beside them pushes past 180."""


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
        process = self._process
        line = _first_line(process, self._deadline, self._timeout, self._directory)
        if not line:
            raise exited(process.wait(), self._directory)
        return parse_ready(line, self._directory)


def up_command(directory: Path, *options: str, crds: bool = True) -> list[str]:
    """``hack/local-cluster up`` in ``directory``, with the upstream CRDs when ``crds`` and they
    are present."""
    command = [sys.executable, str(LOCAL_CLUSTER), "up", "--dir", str(directory), *options]
    if crds and CRDS.is_dir():
        command += ["--crds", str(CRDS)]
    return command


def parse_ready(line: str, directory: Path) -> RealCluster:
    """The cluster ``up`` describes in the line it prints once ready."""
    server, *fields = line.split()
    named = dict(field.split("=", 1) for field in fields)
    return RealCluster(server, Path(named["kubeconfig"]), Path(named["kubectl"]), directory)


def exited(status: int, directory: Path) -> Exception:
    """What to raise when ``up`` exited before it was ready."""
    if status == NOT_BUILT:
        return Unavailable((directory / "up.log").read_text().strip().splitlines()[-1])
    return RuntimeError(f"hack/local-cluster up exited with {status}\n{diagnosis(directory)}")


def not_ready(timeout: float, directory: Path) -> RuntimeError:
    return RuntimeError(
        f"hack/local-cluster up was not ready within {timeout:.0f}s\n{diagnosis(directory)}"
    )


def diagnosis(directory: Path, lines: int = 5) -> str:
    """The end of ``up``'s own log and of each component's: where a boot stopped, and why."""
    parts = []
    logs = [directory / "up.log", *sorted((directory / "logs").glob("*.log"))]
    for log in logs:
        if log.name == "audit.log" or not log.is_file():
            continue
        tail = log.read_text(errors="replace").rstrip().splitlines()[-lines:]
        parts.append(f"--- {log.relative_to(directory)} ---\n" + "\n".join(tail))
    return "\n".join(parts) or f"no log in {directory}"


@contextmanager
def booting_real_cluster(
    directory: Path, *options: str, crds: bool = True, timeout: float = BOOT_TIMEOUT
) -> Iterator[Booting]:
    """``hack/local-cluster up`` in ``directory`` until the block ends, then SIGTERM; with the
    upstream CRDs when ``crds`` and they are present. It boots while the block goes on."""
    command = up_command(directory, *options, crds=crds)
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
    directory: Path, *options: str, crds: bool = True, timeout: float = BOOT_TIMEOUT
) -> Iterator[RealCluster]:
    """``booting_real_cluster``, once it serves."""
    with booting_real_cluster(directory, *options, crds=crds, timeout=timeout) as booting:
        yield booting.ready()


def _first_line(
    process: subprocess.Popen[bytes], deadline: float, timeout: float, directory: Path
) -> str:
    """The line ``up`` prints once the cluster is ready; empty when it exits first."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise not_ready(timeout, directory)
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            data += chunk
    return data.decode().splitlines()[0]
