"""`reconciler history KIND/NAME`: a spec's timeline from its status file's git log."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import SourceError
from reconciler.logs import configure
from reconciler.source.credentials import Credentials
from reconciler.source.git import GitSource, tree_entries
from reconciler.status.history import timeline, versions
from reconciler.status.model import SpecStatus
from reconciler.status.reader import spec_key
from reconciler.sweep import report as sweep_report

HELP = "show a spec's timeline (phases, runs, metrics, promotions, failures) from the status branch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="KIND/NAME", help="e.g. TrainingJob/train-fraud")
    parser.add_argument("--repo", required=True, help="Git URL or local path of the repository")
    parser.add_argument("--status-branch", default="status", help="branch holding status files")
    parser.add_argument(
        "--namespace", help="the spec's namespace (needed when the name is in several)"
    )
    parser.add_argument("--token-file", type=Path, help="file holding an HTTPS token")
    parser.add_argument("--ssh-key-file", type=Path, help="SSH private key file")


def run(args: argparse.Namespace) -> int:
    configure("warning")
    kind, slash, name = args.spec.partition("/")
    if not slash or not kind or not name or "/" in name:
        print(f"reconciler history: expected KIND/NAME, got {args.spec!r}", file=sys.stderr)
        return 2
    try:
        credentials = None
        if args.token_file or args.ssh_key_file:
            credentials = Credentials.from_files(
                token_file=args.token_file, ssh_key_file=args.ssh_key_file
            )
        with tempfile.TemporaryDirectory(prefix="reconciler-history-") as tmp:
            source = GitSource(args.repo, args.status_branch, Path(tmp) / "cache", credentials)
            tip = source.fetch()
            paths = _paths(source, tip, kind, name, args.namespace)
            if len(paths) != 1:
                where = f" in namespace {args.namespace}" if args.namespace else ""
                if paths:
                    found = ", ".join(sorted(p.split("/")[0] for p in paths))
                    problem = f"{args.spec} is in several namespaces ({found}): pass --namespace"
                else:
                    problem = f"no status file for {args.spec}{where} on {args.status_branch!r}"
                print(f"reconciler history: {problem}", file=sys.stderr)
                return 2
            path = paths[0]
            found = versions(source.repo, tip, path)
            lines = timeline(found)
            lines += _sweep(found[-1].status if found else None)
    except SourceError as exc:
        print(f"reconciler history: {exc}", file=sys.stderr)
        return 2
    print(f"{path} on {args.status_branch}:")
    for line in lines:
        print(line)
    return 0


def _sweep(status: SpecStatus | None) -> list[str]:
    """The latest sweep of a TrainingJob as a table of its trials, after the timeline."""
    sweep = status.extra.get("sweep") if status is not None else None
    if not isinstance(sweep, Mapping):
        return []
    return ["", sweep_report.summary_line(sweep), *sweep_report.table(sweep)]


def _paths(
    source: GitSource, tip: object, kind: str, name: str, namespace: str | None
) -> list[str]:
    """Status files of ``kind``/``name`` at the tip (a removed spec: anywhere in the history)."""

    def matching(paths: list[str]) -> list[str]:
        found = []
        for path in paths:
            key = spec_key(path)
            if key is None or key.name != name or key.kind.lower() != kind.lower():
                continue
            if namespace is None or key.namespace == namespace:
                found.append(path)
        return found

    found = matching(list(tree_entries(source.repo, tip)))  # type: ignore[arg-type]
    if found:
        return found
    seen: set[str] = set()
    for commit in source.repo.walk(tip):  # type: ignore[arg-type]
        seen.update(matching(list(tree_entries(source.repo, commit.id))))
        if seen:
            break
    return sorted(seen)
