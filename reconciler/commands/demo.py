"""`reconciler demo`."""

from __future__ import annotations

import argparse
import sys

HELP = "not built yet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("reconciler demo: not built yet", file=sys.stderr)
    return 2
