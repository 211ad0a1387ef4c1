"""`reconciler run`: keep a cluster equal to a Git branch and write status back to Git."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

import structlog

from reconciler import config
from reconciler.commands.progress import Progress
from reconciler.errors import ApiError, SourceError
from reconciler.logs import configure
from reconciler.service import Service

HELP = "keep a cluster equal to a branch of a spec repository, writing status to Git"

log = structlog.get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    flags = {option.name: getattr(args, option.name, None) for option in config.OPTIONS}
    settings = config.load_settings(flags, os.environ, args.config)
    configure(settings.service.log_level)
    try:
        service = Service.open(settings)
    except SourceError as exc:  # a cache directory or local repository that is not Git
        print(f"reconciler run: {exc}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        service.engine.stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    once = settings.service.once
    try:
        try:
            service.start(give_up_after=settings.service.settle_timeout if once else None)
        except ApiError as exc:
            print(f"reconciler run --once: {service.start_error or exc}", file=sys.stderr)
            return 2
        if once:
            with Progress(service.metrics):
                settled = service.engine.run_until_settled(settings.service.settle_timeout)
            state = service.engine.state
            if state.head is None and state.source_error is not None:
                # Nothing could be read, so nothing was reconciled: an environment error.
                print(f"reconciler run --once: {state.source_error}", file=sys.stderr)
                return 2
            if not settled:
                failing = service.engine.last_error
                why = f" (reconcile failing: {failing})" if failing else ""
                print(f"reconciler run --once: specs did not settle in time{why}", file=sys.stderr)
                return 1
            return 0
        # A cold start applies everything: a person at a terminal sees it move.
        with Progress(service.metrics):
            service.run_forever()
        if service.elector is not None and service.elector.lost.is_set():
            # Exit and come back as a standby: nothing half-stopped survives a lost leadership.
            print("reconciler run: leadership lost, exiting", file=sys.stderr)
            return 1
        return 0
    finally:
        service.stop()
