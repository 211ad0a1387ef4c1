"""`reconciler schema`: write, or check, the JSON Schemas of the spec kinds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.specs import schema

HELP = "write (or check with --check) the JSON Schemas in schemas/*.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a schema file is missing or out of date",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("schemas"),
        metavar="DIR",
        help="directory of the schema files (default: schemas)",
    )


def run(args: argparse.Namespace) -> int:
    directory: Path = args.output_dir
    if args.check:
        names = schema.stale(directory)
        for name in names:
            print(directory / name)
        if names:
            print(
                f"{len(names)} schema file(s) out of date: run reconciler schema", file=sys.stderr
            )
            return 1
        print("schemas are up to date", file=sys.stderr)
        return 0
    for name in schema.write(directory):
        print(directory / name)
    return 0
