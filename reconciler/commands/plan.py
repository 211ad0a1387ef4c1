"""`reconciler plan`: what merging a change will do, in the language of models and runs.

Exit codes follow ``git diff --exit-code``: with ``--exit-code`` 0 means no changes and 1
changes or errors; without it 0 unless head has errors (1). Usage and environment problems
(not a repository, an unknown ref, an unreachable cluster) are 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cluster.client import Connection, KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.errors import ApiError, ConfigError
from reconciler.logs import configure
from reconciler.review import compare, format_json, format_markdown, format_text, render_side
from reconciler.review.cluster import observe
from reconciler.review.model import Review
from reconciler.review.source import WORKTREE, default_base, load, open_repository, resolve
from reconciler.specs.loader import ParseCache

HELP = "show what a change to the spec repository will do (for reviewing a pull request)"
FORMATTERS = {"text": format_text, "markdown": format_markdown, "json": format_json}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", type=Path, default=Path("."), help="the Git repository (default: .)"
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        help="revision to compare against (default: merge-base of head with main or master, "
        "else head's parent)",
    )
    parser.add_argument(
        "--head",
        metavar="REF",
        default="HEAD",
        help=f"revision to plan (default: HEAD); {WORKTREE} reads the working tree",
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="also diff against this cluster")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context of the cluster")
    parser.add_argument(
        "--format", choices=sorted(FORMATTERS), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when there are changes and 0 when there are none, like git diff",
    )


def run(args: argparse.Namespace) -> int:
    # Logs go to stderr and only when something is wrong: stdout is the plan, often a comment.
    configure("warning")
    review = build(args)
    sys.stdout.write(FORMATTERS[args.format](review))
    if review.has_errors:
        return 1
    return 1 if args.exit_code and review.has_changes else 0


def build(args: argparse.Namespace) -> Review:
    repo = open_repository(args.repo)
    worktree = args.head == WORKTREE
    head_commit = resolve(repo, "HEAD" if worktree else args.head)
    base_ref = args.base if args.base is not None else default_base(repo, head_commit, worktree)
    cache = ParseCache()
    base_revision, base_result = load(repo, base_ref, cache)
    head_revision, head_result = load(repo, args.head, cache)
    review = compare(
        render_side(base_revision, base_result),
        render_side(head_revision, head_result, commit=str(head_commit.id)),
    )
    if args.kubeconfig is None and args.context is None:
        return review
    client = KubeClient.connect(Connection(kubeconfig=args.kubeconfig, context=args.context))
    try:
        # One request first, so an unreachable cluster is an environment error (exit 2)
        # rather than one error per object.
        client.request("GET", "/version")
        return observe(review, client, Discovery(client))
    except ApiError as exc:
        raise ConfigError(f"cannot reach the cluster: {exc}") from exc
    finally:
        client.close()
