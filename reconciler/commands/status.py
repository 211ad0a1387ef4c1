"""`reconciler status`: what the status branch says about every spec."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reconciler.errors import SourceError
from reconciler.logging import configure
from reconciler.source.credentials import Credentials
from reconciler.status.reader import StatusSnapshot, format_table, read_statuses

HELP = "show the status of every spec, as written to the status branch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="Git URL or local path of the repository")
    parser.add_argument("--status-branch", default="status", help="branch holding status files")
    parser.add_argument("--output", choices=("text", "json"), default="text")
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
        snapshot = read_statuses(args.repo, args.status_branch, credentials=credentials)
    except SourceError as exc:
        print(f"reconciler status: {exc}", file=sys.stderr)
        return 2
    if args.output == "json":
        print(json.dumps(as_json(snapshot, args.status_branch), indent=2))
    else:
        print(format_table(snapshot))
    for problem in snapshot.problems:
        print(f"reconciler status: unreadable status file {problem}", file=sys.stderr)
    return 0


def as_json(snapshot: StatusSnapshot, branch: str) -> dict[str, object]:
    return {
        "branch": branch,
        "commit": snapshot.commit,
        "repository": snapshot.repository.to_dict() if snapshot.repository else None,
        "specs": [
            {"spec": e.key.name, "kind": e.key.kind, "namespace": e.key.namespace, "path": e.path}
            | e.status.to_dict()
            for e in snapshot.specs
        ],
        "problems": list(snapshot.problems),
    }
