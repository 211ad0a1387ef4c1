"""The shared control plane's bookkeeping (tests/cluster/shared.py and keeper.py), with a stand-in
for ``hack/local-cluster up``: a script that prints the ready line (or not) and waits for SIGTERM.
The real ``up`` takes 20 seconds or more to boot; what is checked here is who starts it, who
stops it, and what a failure says."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.keeper import alive
from tests.cluster.real import ROOT, Unavailable
from tests.cluster.shared import shared_real_cluster
from tests.waiting import wait_for

FAKE_UP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    directory, mode = Path(sys.argv[1]), sys.argv[2]
    with open(directory / "fake.pids", "a") as pids:
        pids.write(f"{os.getpid()}\\n")
    if mode == "unbuilt":
        print("local-cluster: the control plane is not built", file=sys.stderr)
        sys.exit(4)
    if mode == "stuck":
        (directory / "logs").mkdir(exist_ok=True)
        (directory / "logs" / "etcd.log").write_text("etcd: waiting for the disk\\n")
        print("local-cluster: starting etcd", file=sys.stderr, flush=True)
    else:
        print(f"https://127.0.0.1:1 kubeconfig={directory}/kubeconfig kubectl=kubectl", flush=True)
    signal.pause()
    """
)

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.cluster.shared import shared_real_cluster

    with shared_real_cluster(Path(sys.argv[1]), sys.argv[2:], 30) as booting:
        print(booting.ready().server, flush=True)
        sys.stdin.readline()
    """
)


@pytest.fixture
def fake_up(tmp_path: Path) -> Iterator[Path]:
    script = tmp_path / "fake_up.py"
    script.write_text(FAKE_UP)
    yield script
    directory = tmp_path / "real-cluster"
    pids = directory / "fake.pids"
    left = [int(p) for p in pids.read_text().split()] if pids.exists() else []
    assert [pid for pid in left if alive(pid)] == []


def command(fake_up: Path, mode: str = "ready") -> list[str]:
    return [sys.executable, str(fake_up), str(fake_up.parent / "real-cluster"), mode]


def started(directory: Path) -> list[int]:
    return [int(pid) for pid in (directory / "fake.pids").read_text().split()]


class Worker:
    """A test process of its own, joined to the shared cluster until told to leave."""

    def __init__(self, directory: Path, command: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(directory), *command],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.server = self.process.stdout.readline().strip()

    def leave(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        assert self.process.wait(30) == 0
        self.process.stdout.close()


def test_two_workers_share_one_cluster_and_the_last_to_leave_stops_it(fake_up, tmp_path):
    directory = tmp_path / "real-cluster"
    first = Worker(directory, command(fake_up))
    second = Worker(directory, command(fake_up))
    assert first.server == second.server == "https://127.0.0.1:1"
    [up] = started(directory)

    first.leave()
    assert alive(up)
    second.leave()
    assert not alive(up)
    assert (directory / "stopped").exists()

    third = Worker(directory, command(fake_up))
    assert third.server == "https://127.0.0.1:1"
    assert len(started(directory)) == 2  # a new cluster: the first one had stopped
    third.leave()


def test_a_killed_worker_does_not_leave_the_cluster_running(fake_up, tmp_path):
    directory = tmp_path / "real-cluster"
    worker = Worker(directory, command(fake_up))
    [up] = started(directory)
    worker.process.kill()
    worker.process.wait()
    wait_for(lambda: not alive(up), 10, 0.1, what="the cluster stopped after its worker died")
    assert (directory / "stopped").exists()


def test_a_boot_that_times_out_says_where_it_stopped(fake_up, tmp_path):
    directory = tmp_path / "real-cluster"
    stuck = shared_real_cluster(directory, command(fake_up, "stuck"), timeout=1)
    with stuck as booting, pytest.raises(RuntimeError) as failure:
        booting.ready()
    message = str(failure.value)
    assert "not ready within 1s" in message
    assert "local-cluster: starting etcd" in message
    assert "logs/etcd.log ---\netcd: waiting for the disk" in message


def test_unbuilt_binaries_make_the_cluster_unavailable(fake_up, tmp_path):
    directory = tmp_path / "real-cluster"
    unbuilt = shared_real_cluster(directory, command(fake_up, "unbuilt"), timeout=10)
    with unbuilt as booting, pytest.raises(Unavailable) as failure:
        booting.ready()
    assert str(failure.value) == "local-cluster: the control plane is not built"
