"""One real control plane for every process of a pytest run: both xdist workers, or the single
process of a run without xdist.

The first process to need it starts ``tests/cluster/keeper.py`` (in a session of its own), which
runs ``hack/local-cluster up`` in the run's shared directory; the others join it. Each process
registers its pid there; the last one to leave stops the cluster, and the keeper stops it itself
once no registered process is alive, so a killed test process leaves nothing behind. A lock file
next to the directory (``fcntl.flock``) orders joining, leaving and the keeper's check.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cluster import keeper
from tests.cluster.real import RealCluster, exited, not_ready, parse_ready
from tests.waiting import wait_for

KEEPER = Path(keeper.__file__)
MARKERS = ("ready", "exited", "stopping", "stopped")
STOP_TIMEOUT = keeper.STOP_GRACE + 15


def run_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary directory the whole pytest run shares."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <the controller's base>/<worker id>.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


class SharedBooting:
    """The run's control plane, joined; ``ready()`` waits until it serves."""

    def __init__(self, directory: Path, started: float, timeout: float) -> None:
        self._directory = directory
        self._deadline = started + timeout
        self._timeout = timeout
        self._ready: RealCluster | None = None

    def ready(self) -> RealCluster:
        if self._ready is None:
            self._ready = self._wait()
        return self._ready

    def _wait(self) -> RealCluster:
        directory = self._directory

        def outcome() -> tuple[str, str] | None:
            for marker in ("ready", "exited", "stopped"):
                if (directory / marker).exists():
                    return marker, (directory / marker).read_text()
            if not keeper.alive(_keeper(directory)[0]):
                return "stopped", ""
            return None

        try:
            found, text = wait_for(
                outcome, max(0.0, self._deadline - time.time()), 0.1, what="the control plane"
            )
        except AssertionError:
            raise not_ready(self._timeout, directory) from None
        if found == "ready":
            return parse_ready(text, directory)
        if found == "exited":
            raise exited(int(text), directory)
        raise RuntimeError(
            f"the control plane's keeper ended before it was ready\n{_keeper_log(directory)}"
        )


@contextmanager
def shared_real_cluster(
    directory: Path, command: list[str], timeout: float
) -> Iterator[SharedBooting]:
    """Joins the control plane ``command`` runs in ``directory``, starting it when none runs,
    until the block ends; the last process to leave stops it."""
    lock = directory.with_name(directory.name + ".lock")
    with _locked(lock):
        started, process = _join(directory, lock, command)
    try:
        yield SharedBooting(directory, started, timeout)
    finally:
        with _locked(lock):
            _leave(directory)
        if process is not None and not keeper.alive(process.pid):
            process.wait()  # the keeper was this process's child: reap it


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def _join(
    directory: Path, lock: Path, command: list[str]
) -> tuple[float, subprocess.Popen[bytes] | None]:
    workers = directory / "workers"
    workers.mkdir(parents=True, exist_ok=True)
    pid, started = _keeper(directory)
    if keeper.alive(pid) and not (directory / "stopping").exists():
        (workers / str(os.getpid())).touch()
        return started, None
    # The last cluster is stopping, or its keeper was killed: wait, then start a new one.
    wait_for(lambda: not keeper.alive(pid), STOP_TIMEOUT, 0.1, what="the last control plane")
    for marker in MARKERS:
        (directory / marker).unlink(missing_ok=True)
    (workers / str(os.getpid())).touch()
    started = time.time()
    with open(directory / "keeper.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(KEEPER), str(directory), str(lock), "--", *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    keeper.write(directory / "keeper.json", json.dumps({"pid": process.pid, "started": started}))
    return started, process


def _leave(directory: Path) -> None:
    (directory / "workers" / str(os.getpid())).unlink(missing_ok=True)
    if any(keeper.alive(pid) for pid in keeper.registered(directory)):
        return
    pid, _ = _keeper(directory)
    if not keeper.alive(pid):
        return
    keeper.write(directory / "stopping", "")
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: not keeper.alive(pid), STOP_TIMEOUT, 0.1, what="the control plane stopped")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)  # `up` dies with it, and its components with `up`


def _keeper(directory: Path) -> tuple[int, float]:
    """The keeper's pid and start time (wall clock); pid 0 when none was started."""
    try:
        found = json.loads((directory / "keeper.json").read_text())
    except FileNotFoundError:
        return 0, 0.0
    return found["pid"], found["started"]


def _keeper_log(directory: Path) -> str:
    log = directory / "keeper.log"
    return log.read_text(errors="replace")[-2000:] if log.is_file() else ""
