"""`reconciler sandbox`: run the development API server until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import ConfigError

HELP = "run a development Kubernetes API sandbox on 127.0.0.1 (not a cluster)"
DEFAULT_KUBECONFIG = "sandbox.kubeconfig"
# The sandbox package and what only its extra installs (pyproject.toml, extra "sandbox").
SANDBOX_MODULES = frozenset({"reconciler_sandbox", "kubernetes_validate"})
NOT_INSTALLED = (
    "the sandbox is not installed (a development tool, left out of the production image):"
    " install reconciler[sandbox] from a source checkout: pip install -e '.[sandbox]'"
)


@contextmanager
def sandbox_required() -> Iterator[None]:
    """Wrap the lazy imports of reconciler_sandbox: if it is missing, say how to install it."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in SANDBOX_MODULES:
            raise
        raise ConfigError(NOT_INSTALLED) from exc


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
    with sandbox_required():
        from reconciler_sandbox.core import NOTICE, Sandbox
        from reconciler_sandbox.errors import StatusError

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
