"""Leader election between real processes: SIGKILL a leader, freeze one with SIGSTOP/SIGCONT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for

PROJECT = Path(__file__).resolve().parents[2]
LEASE, DEADLINE, RETRY = 2.0, 1.2, 0.3
SLACK = 1.0  # process scheduling on a busy machine

pytestmark = pytest.mark.slow


class Replica:
    def __init__(self, kubeconfig: Path, lease: str, identity: str) -> None:
        self.identity = identity
        self.lines: list[tuple[str, float]] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.lease.elector_process",
                str(kubeconfig),
                lease,
                identity,
                f"--lease-duration={LEASE}",
                f"--renew-deadline={DEADLINE}",
                f"--retry-period={RETRY}",
            ],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event, _, at = line.split()
            self.lines.append((event, float(at)))

    def at(self, event: str) -> float | None:
        return next((t for e, t in self.lines if e == event), None)

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


@pytest.fixture
def replicas(sandbox, lease_name):
    started: list[Replica] = []

    def start(identity: str) -> Replica:
        replica = Replica(sandbox.kubeconfig_path, lease_name, identity)
        started.append(replica)
        wait_for(lambda: replica.at("campaigning"), timeout=15, what=f"{identity} to start")
        return replica

    yield start
    for replica in started:
        replica.close()


def leader_among(*replicas: Replica) -> Replica:
    return wait_for(
        lambda: next((r for r in replicas if r.at("leading") is not None), None),
        timeout=LEASE + 3 * RETRY + SLACK,
        what="a leader",
    )


def test_killed_and_frozen_leaders_are_replaced_one_at_a_time(replicas):
    a, b = replicas("a"), replicas("b")
    first = leader_among(a, b)
    second = b if first is a else a

    first.signal(signal.SIGKILL)
    killed = time.monotonic()
    leader_among(second)
    # The standby waits out the lease (from its last sight of a renewal), and no longer.
    assert second.at("leading") - killed <= LEASE + 2 * RETRY + SLACK

    third = replicas("c")
    assert third.at("leading") is None
    second.signal(signal.SIGSTOP)  # frozen: cannot renew, cannot even notice
    try:
        leader_among(third)
    finally:
        second.signal(signal.SIGCONT)
    # On waking, the frozen leader finds its deadline passed and stops before doing anything.
    wait_for(lambda: second.at("lost"), timeout=DEADLINE + SLACK, what="the thawed leader to stop")
    assert second.process.wait(5) == 1
    assert second.at("lost") < third.at("leading"), "the frozen leader's claim outlived takeover"
