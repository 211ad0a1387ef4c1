"""`reconciler run`: keep a cluster equal to a Git branch and write status back to Git."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

import structlog

from reconciler import config
from reconciler.logging import configure
from reconciler.service import Service

HELP = "keep a cluster equal to a branch of a spec repository, writing status to Git"

log = structlog.get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    flags = {option.name: getattr(args, option.name, None) for option in config.OPTIONS}
    settings = config.load_settings(flags, os.environ, args.config)
    configure(settings.service.log_level)
    service = Service(settings)

    def on_signal(signum: int, frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        service.engine.stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    try:
        service.start()
        if settings.service.once:
            settled = service.engine.run_until_settled(settings.service.settle_timeout)
            if not settled:
                print("reconciler run --once: specs did not settle in time", file=sys.stderr)
                return 1
            return 0
        service.run_forever()
        if service.elector is not None and service.elector.lost.is_set():
            # Exit and come back as a standby: nothing half-stopped survives a lost leadership.
            print("reconciler run: leadership lost, exiting", file=sys.stderr)
            return 1
        return 0
    finally:
        service.stop()
