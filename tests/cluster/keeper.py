"""Runs ``hack/local-cluster up`` for the test processes registered in a directory, and stops it
when none of them is alive any more.

    python tests/cluster/keeper.py DIR -- COMMAND...

Started in a session of its own by the first test process that needs the shared control plane
(tests/cluster/shared.py), so that it outlives a test process killed without its teardown. It
files what it sees in DIR, the protocol tests/cluster/shared.py reads:

- ``workers/<pid>``: one per registered test process (written by those processes);
- ``ready``: the line ``up`` prints once the cluster serves (written whole, by a rename);
- ``exited``: ``up``'s exit status, when ``up`` ended by itself;
- ``stopping``: the cluster is going: a process registering now starts a new one after it;
- ``stopped``: this keeper is done, and ``up`` with every component has exited.

Standard library only: it runs by path, outside the test process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

POLL = 0.5  # seconds between looks at the registered processes
STOP_GRACE = 60  # seconds `up` gets to stop its components after SIGTERM


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def registered(directory: Path) -> list[int]:
    workers = directory / "workers"
    return [int(entry.name) for entry in workers.iterdir()] if workers.is_dir() else []


def write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.rename(path)


def _die_with_parent() -> None:
    # Should this keeper be killed outright, `up` goes with it, and its components with `up`.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _abandoned(directory: Path, lock: Path) -> bool:
    """No registered process is alive: marks the cluster ``stopping`` under the lock, so that
    a process registering at this moment starts a new cluster instead of joining this one."""
    with open(lock, "a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a test process is registering or leaving; look again next time
        if any(alive(pid) for pid in registered(directory)):
            return False
        write(directory / "stopping", "")
        return True


def keep(directory: Path, lock: Path, command: list[str]) -> int:
    asked: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: asked.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: asked.append(signum))
    with open(directory / "up.log", "wb") as log:
        up = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    assert up.stdout is not None
    out, line = up.stdout.fileno(), b""
    try:
        while not asked:
            if b"\n" in line:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    up.wait(POLL)
            elif select.select([out], [], [], POLL)[0]:
                chunk = os.read(out, 4096)
                if not chunk:
                    up.wait()
                line += chunk
                if b"\n" in line:
                    write(directory / "ready", line.decode().splitlines()[0])
            if up.poll() is not None:
                write(directory / "exited", str(up.returncode))
                return 0
            if _abandoned(directory, lock):
                break
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
        up.stdout.close()
        with contextlib.suppress(OSError):
            write(directory / "stopped", str(up.returncode))
    return 0


if __name__ == "__main__":
    directory, lock, separator, *command = sys.argv[1:]
    assert separator == "--" and command, __doc__
    sys.exit(keep(Path(directory), Path(lock), command))
