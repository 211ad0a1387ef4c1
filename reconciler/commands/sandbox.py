"""`reconciler sandbox`: run the development API server until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from reconciler.errors import ConfigError

HELP = "run a development Kubernetes API sandbox on 127.0.0.1 (not a cluster)"
DEFAULT_KUBECONFIG = "sandbox.kubeconfig"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--kubeconfig",
        default=DEFAULT_KUBECONFIG,
        help=f"where to write the kubeconfig for kubectl and clients (default: {DEFAULT_KUBECONFIG})",
    )
    parser.add_argument("--crds", metavar="DIR", help="load every CustomResourceDefinition in DIR")
    parser.add_argument(
        "--scenario", metavar="FILE", help="YAML rules for simulated jobs, deployments, faults"
    )
    parser.add_argument(
        "--deployment-delay",
        type=float,
        default=1.0,
        help="seconds a Deployment takes to become Available (default: 1.0)",
    )


def run(args: argparse.Namespace) -> int:
    from reconciler.sandbox.core import NOTICE, Sandbox
    from reconciler.sandbox.errors import StatusError

    for option, value in (("--crds", args.crds), ("--scenario", args.scenario)):
        if value and not Path(value).exists():
            raise ConfigError(f"{option} {value}: no such file or directory")
    try:
        sandbox = Sandbox(
            port=args.port,
            crds_dir=args.crds,
            scenario_file=args.scenario,
            deployment_delay=args.deployment_delay,
        )
        sandbox.start()
    except (OSError, StatusError) as exc:
        raise ConfigError(f"cannot start the sandbox: {exc}") from exc
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        path = sandbox.write_kubeconfig(Path(args.kubeconfig).resolve())
        print(f"reconciler sandbox: {NOTICE}")
        print(f"API server:  {sandbox.url}")
        print(f"kubeconfig:  {path}")
        print(f"try:         kubectl --kubeconfig {path} get namespaces")
        print("stop with Ctrl-C", flush=True)
        stop.wait()
    finally:
        sandbox.stop()
        print("reconciler sandbox: stopped", file=sys.stderr)
    return 0
