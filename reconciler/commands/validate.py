"""`reconciler validate PATH...`: are the specs valid? One line per problem, sorted."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from reconciler.errors import SpecProblem
from reconciler.specs.loader import load_directory, load_file

HELP = "check specs; prints file:line:col: field: message for every problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a repository directory (reconciler.yaml at its root applies) or one YAML file",
    )
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help='text (default) or json: {"problems": [...], "specs": N}',
    )


def run(args: argparse.Namespace) -> int:
    missing = [path for path in args.paths if not path.exists()]
    if missing:
        for path in missing:
            print(f"reconciler validate: {path}: no such file or directory", file=sys.stderr)
        return 2
    problems: list[SpecProblem] = []
    specs = 0
    for path in args.paths:
        try:
            root, result = (
                (path, load_directory(path))
                if path.is_dir()
                else (
                    path.parent,
                    load_file(path),
                )
            )
        except OSError as exc:
            print(f"reconciler validate: {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        specs += len(result.specs)
        problems.extend(
            dataclasses.replace(problem, file=_shown(root / problem.file))
            for problem in result.problems
        )
    problems.sort()
    if args.output == "json":
        print(json.dumps({"problems": [p.as_dict() for p in problems], "specs": specs}, indent=2))
    else:
        for problem in problems:
            print(problem)
    print(_summary(problems, specs), file=sys.stderr)
    return 1 if problems else 0


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it, else as given."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def _summary(problems: list[SpecProblem], specs: int) -> str:
    valid = f"{specs} valid spec{'s' if specs != 1 else ''}"
    if not problems:
        return valid
    files = len({problem.file for problem in problems})
    return (
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in "
        f"{files} file{'s' if files != 1 else ''}; {valid}"
    )
