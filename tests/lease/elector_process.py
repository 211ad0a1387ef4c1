"""A replica in miniature: campaign for a Lease and print each transition on stdout.

    python -m tests.lease.elector_process KUBECONFIG NAME IDENTITY

Lines are ``<event> <identity> <time.monotonic()>`` (the monotonic clock is shared by every
process of one machine): ``leading`` when the Lease is won, ``lost`` with the moment the claim
ended. Exits 1 after a loss, as the reconciler does, and 0 after a graceful SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from reconciler.cluster.client import Connection, KubeClient
from reconciler.cluster.lease import LeaderElector
from reconciler.logs import configure


def emit(event: str, identity: str, at: float) -> None:
    print(f"{event} {identity} {at:.6f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("name")
    parser.add_argument("identity")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--lease-duration", type=float, default=2.0)
    parser.add_argument("--renew-deadline", type=float, default=1.2)
    parser.add_argument("--retry-period", type=float, default=0.3)
    args = parser.parse_args()
    configure("warning")
    done = threading.Event()
    elector: LeaderElector

    def lost() -> None:
        emit("lost", args.identity, min(elector.expires_at, time.monotonic()))
        done.set()

    elector = LeaderElector(
        KubeClient.connect(Connection(kubeconfig=args.kubeconfig)),
        args.namespace,
        args.name,
        args.identity,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        on_started_leading=lambda: emit("leading", args.identity, time.monotonic()),
        on_lost=lost,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    elector.start()
    emit("campaigning", args.identity, time.monotonic())
    done.wait()
    if elector.lost.is_set():
        return 1
    elector.stop(release=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
