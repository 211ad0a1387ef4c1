"""`reconciler status`: what the status branch says about every spec.

Exit code 1 when any listed spec is Failed or Degraded, so scripts and CI can gate on it; 2 when
the branch cannot be read or the flags are wrong. ``--watch`` redraws whenever the branch moves,
until interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from reconciler import yamlout
from reconciler.errors import SourceError
from reconciler.logs import configure
from reconciler.phase import Phase
from reconciler.source.credentials import Credentials
from reconciler.status.progress import progress
from reconciler.status.reader import (
    StatusEntry,
    StatusSnapshot,
    format_table,
    read_statuses,
)

HELP = "show the status of every spec, as written to the status branch"
OUTPUTS = ("table", "wide", "json", "yaml", "text")  # text: the table, as earlier versions named it
FAILING = frozenset({Phase.FAILED, Phase.DEGRADED})
_COLOURS = {  # ANSI colour per phase, on a terminal only
    Phase.READY: "32",
    Phase.SUCCEEDED: "32",
    Phase.PROGRESSING: "36",
    Phase.PENDING: "33",
    Phase.FAILED: "31",
    Phase.DEGRADED: "31",
    Phase.INVALID: "35",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="Git URL or local path of the repository")
    parser.add_argument("--status-branch", default="status", help="branch holding status files")
    parser.add_argument("--kind", help="only specs of this kind (e.g. TrainingJob)")
    parser.add_argument("--namespace", help="only specs in this namespace")
    parser.add_argument(
        "--phase", choices=[str(p) for p in Phase], type=_phase, help="only specs in this phase"
    )
    parser.add_argument("--watch", action="store_true", help="redraw as the status branch moves")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between fetches with --watch [2]"
    )
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    parser.add_argument("--token-file", type=Path, help="file holding an HTTPS token")
    parser.add_argument("--ssh-key-file", type=Path, help="SSH private key file")


def run(args: argparse.Namespace) -> int:
    # Routine fetch logs would only clutter a one-shot command; they go to stderr in any case.
    configure("warning")
    try:
        credentials = None
        if args.token_file or args.ssh_key_file:
            credentials = Credentials.from_files(
                token_file=args.token_file, ssh_key_file=args.ssh_key_file
            )
    except SourceError as exc:
        print(f"reconciler status: {exc}", file=sys.stderr)
        return 2
    if not args.watch:
        try:
            snapshot = read_statuses(args.repo, args.status_branch, credentials=credentials)
        except SourceError as exc:
            print(f"reconciler status: {exc}", file=sys.stderr)
            return 2
        return show(snapshot, args, sys.stdout)
    return _watch(args, credentials)


def _watch(args: argparse.Namespace, credentials: Credentials | None) -> int:
    code, seen, stop = 0, None, threading.Event()
    with tempfile.TemporaryDirectory(prefix="reconciler-status-") as tmp:
        cache = Path(tmp) / "cache"
        try:
            while True:
                try:
                    snapshot = read_statuses(args.repo, args.status_branch, cache, credentials)
                except SourceError as exc:
                    if seen is None:
                        print(f"reconciler status: {exc}", file=sys.stderr)
                        return 2
                    print(f"reconciler status: {exc}", file=sys.stderr)  # keep watching
                else:
                    if snapshot.commit != seen:
                        if sys.stdout.isatty():
                            sys.stdout.write("\033[H\033[2J")  # redraw in place
                        elif seen is not None:
                            print()
                        code = show(snapshot, args, sys.stdout)
                        sys.stdout.flush()
                        seen = snapshot.commit
                stop.wait(args.interval)
        except KeyboardInterrupt:
            return code


def show(snapshot: StatusSnapshot, args: argparse.Namespace, out: TextIO) -> int:
    """Print the filtered snapshot; 1 when a listed spec is Failed or Degraded, else 0."""
    listed = filtered(snapshot, args.kind, args.namespace, args.phase)
    if args.output in ("json", "yaml"):
        data = as_json(listed, args.status_branch)
        out.write(json.dumps(data, indent=2) + "\n" if args.output == "json" else _yaml(data))
    else:
        colour = out.isatty() and "NO_COLOR" not in os.environ
        text = format_table(listed, wide=args.output == "wide")
        out.write((_coloured(text) if colour else text) + "\n")
    for problem in snapshot.problems:
        print(f"reconciler status: unreadable status file {problem}", file=sys.stderr)
    return 1 if any(e.status.phase in FAILING for e in listed.specs) else 0


def filtered(
    snapshot: StatusSnapshot, kind: str | None, namespace: str | None, phase: Phase | None
) -> StatusSnapshot:
    def keep(entry: StatusEntry) -> bool:
        return (
            (kind is None or entry.key.kind.lower() == kind.lower())
            and (namespace is None or entry.key.namespace == namespace)
            and (phase is None or entry.status.phase == phase)
        )

    return replace(snapshot, specs=tuple(e for e in snapshot.specs if keep(e)))


def as_json(snapshot: StatusSnapshot, branch: str) -> dict[str, object]:
    """The snapshot for scripts: each spec's status file as it is, plus ``progress`` (where its
    canary analysis or sweep stands) for a spec that has one."""
    return {
        "branch": branch,
        "commit": snapshot.commit,
        "repository": snapshot.repository.to_dict() if snapshot.repository else None,
        "specs": [_spec_json(e) for e in snapshot.specs],
        "problems": list(snapshot.problems),
    }


def _spec_json(entry: StatusEntry) -> dict[str, object]:
    key = entry.key
    data = {"spec": key.name, "kind": key.kind, "namespace": key.namespace, "path": entry.path}
    data |= entry.status.to_dict()
    moving = progress(entry.status.extra)
    if moving is not None:
        data["progress"] = moving
    return data


def _phase(text: str) -> Phase:
    for phase in Phase:
        if phase.lower() == text.lower():
            return phase
    raise argparse.ArgumentTypeError(f"unknown phase {text!r}")


def _yaml(data: Mapping[str, Any]) -> str:
    return yamlout.dump(dict(data))


def _coloured(table: str) -> str:
    """Colour each row's PHASE cell by its phase."""
    lines = table.splitlines()
    if not lines:
        return table
    start = lines[0].find("PHASE")
    out = [lines[0]]
    for line in lines[1:]:
        word = line[start:].split(" ", 1)[0] if start >= 0 and len(line) > start else ""
        code = _COLOURS.get(Phase(word)) if word in set(Phase) else None
        if code is None:
            out.append(line)
            continue
        end = start + len(word)
        out.append(f"{line[:start]}\033[{code}m{word}\033[0m{line[end:]}")
    return "\n".join(out)
