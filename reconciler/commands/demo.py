"""`reconciler demo`: the whole loop on examples/repo and a sandbox, in one command.

It copies the example repository into a new bare Git repository, starts a sandbox cluster
(with the upstream CRDs when it can find them), runs the reconciler until every spec settles,
then prints the status table, the status branch's history, the outcome note and the Events the
reconciler posted: what a team sees on day one. The sandbox ends with the demo; the spec
repository stays, so the status branch, its dashboard and the notes can be read with git after.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from reconciler import config
from reconciler.cluster.client import Connection, api_client_for
from reconciler.cluster.events import CONTROLLER
from reconciler.commands.progress import Progress
from reconciler.commands.sandbox import sandbox_required
from reconciler.logs import configure
from reconciler.status.reader import StatusEntry
from reconciler.status.writer import NOTES_REF
from reconciler.sweep.report import trial_text

HELP = "run the whole loop on examples/repo against a sandbox cluster, then show the status"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT_ROOT / "examples" / "repo"
SCENARIO = PROJECT_ROOT / "examples" / "sandbox-scenario.yaml"
# The upstream CRDs sit beside the project checkout in this project's layout.
DEFAULT_CRDS = PROJECT_ROOT.parent / "shared" / "crds"
EVENTS_SHOWN = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo-dir", type=Path, default=EXAMPLES, help="spec directory to load [examples/repo]"
    )
    parser.add_argument(
        "--crds", type=Path, default=None, help="folder of CRDs to install in the sandbox"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait to settle")
    parser.add_argument("--verbose", action="store_true", help="show the reconciler's log")


def seed_repository(source: Path, bare: Path, branch: str = "main") -> str:
    """A bare repository whose ``branch`` holds every file under ``source`` in one commit."""
    repo = pygit2.init_repository(str(bare), bare=True)
    index = pygit2.Index()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            blob = repo.create_blob(path.read_bytes())
            relative = path.relative_to(source).as_posix()
            index.add(pygit2.IndexEntry(relative, blob, pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    author = pygit2.Signature("reconciler demo", "demo@reconciler.invalid")
    commit = repo.create_commit(
        f"refs/heads/{branch}", author, author, "Example ML specs", tree, []
    )
    repo.set_head(f"refs/heads/{branch}")
    return str(commit)


def _status_log(bare: Path, branch: str) -> list[str]:
    repo = pygit2.Repository(str(bare))
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return []
    lines = []
    for commit in repo.walk(ref.target, pygit2.enums.SortMode.TOPOLOGICAL):
        lines.append(f"{str(commit.id)[:7]} {commit.message.splitlines()[0]}")
    return lines


def _note(bare: Path, commit: str) -> str | None:
    """The outcome note the reconciler left on a spec commit."""
    repo = pygit2.Repository(str(bare))
    try:
        return repo.lookup_note(commit, NOTES_REF).message
    except KeyError:
        return None


def _lineage(entry: StatusEntry) -> str | None:
    """Git commit -> run -> metrics -> model URI -> deployment, for one serving spec."""
    model = entry.status.extra.get("model") or {}
    if entry.key.kind != "ModelDeployment" or "run" not in model:
        return None
    metrics = ", ".join(f"{name} {value:g}" for name, value in model.get("metrics", {}).items())
    commit = str(model.get("runSourceCommit") or "")[:7]
    gate = ", ".join(f"{name} >= {minimum:g}" for name, minimum in model.get("gate", {}).items())
    # A promoted model the serving object failed to load does not serve yet.
    serves = "waits to load" if model.get("promotion") == "PendingLoad" else "serves"
    run = f"run {model['run']}"
    if model.get("trial"):
        run += f" ({trial_text(model['trial'])})"
    return (
        f"{entry.key.name} {serves} {model['uri']} from {run}"
        f" (trained at commit {commit}; {metrics or 'no metrics'}"
        f"{f'; gate {gate} met' if gate else ''})"
    )


def _age(since: datetime | None, now: datetime) -> str:
    """How long ago, as kubectl prints it: 42s, 3m, 2h."""
    if since is None:
        return "<unknown>"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _events(kubeconfig: Path) -> list[str]:
    """The Events the reconciler posted, as ``kubectl events -A`` lists them, oldest first."""
    import kubernetes

    api = api_client_for(Connection(kubeconfig=str(kubeconfig)))
    try:
        found = kubernetes.client.EventsV1Api(api).list_event_for_all_namespaces()
    finally:
        api.close()
    now = datetime.now(UTC)

    def last_seen(item: Any) -> datetime | None:
        series = item.series
        return series.last_observed_time if series is not None else item.event_time

    ours = [item for item in found.items if item.reporting_controller == CONTROLLER]
    # Series times are to the second; the first occurrence's, to the microsecond, breaks ties.
    ours.sort(key=lambda item: (last_seen(item) or now, item.event_time or now))
    rows = [
        (
            item.metadata.namespace or "",
            _age(last_seen(item), now),
            item.type or "",
            item.reason or "",
            f"{item.regarding.kind}/{item.regarding.name}" if item.regarding else "",
            item.note or "",
        )
        for item in ours
    ]
    header = ("NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return [
        "   ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        )
        for row in (header, *rows)
    ]


def run(args: argparse.Namespace) -> int:
    # Imported here: the sandbox is an optional package, and every other command starts without it.
    with sandbox_required():
        from reconciler_sandbox.testing import running_sandbox
    from reconciler.service import Service
    from reconciler.status.reader import format_table, read_statuses

    if not args.repo_dir.is_dir():
        print(f"reconciler demo: {args.repo_dir} is not a directory", file=sys.stderr)
        return 2
    if args.crds is not None and not args.crds.is_dir():
        print(f"reconciler demo: --crds {args.crds} is not a directory", file=sys.stderr)
        return 2
    crds = args.crds if args.crds is not None else (DEFAULT_CRDS if DEFAULT_CRDS.is_dir() else None)
    configure("info" if args.verbose else "warning")
    workdir = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        bare = workdir / "specs.git"
        head = seed_repository(args.repo_dir, bare)
        print(f"spec repository: {bare} (main at {head[:7]})")
        scenario = SCENARIO if SCENARIO.is_file() else None
        with running_sandbox(crds_dir=crds, scenario=scenario) as sandbox:
            print(f"sandbox cluster: {sandbox.url} (kubeconfig {sandbox.kubeconfig_path})")
            if crds is None:
                print("no CRDs given: KServe, Seldon, Kubeflow and Ray specs will report Failed")
            flags = {option.name: None for option in config.OPTIONS}
            flags.update(
                repo=str(bare),
                kubeconfig=str(sandbox.kubeconfig_path),
                cache_dir=str(workdir / "cache"),
                interval="2",
                once=True,
            )
            # The demo is self-contained: RECONCILER_* variables meant for `run` do not apply.
            settings = config.load_settings(flags, {})
            service = Service.open(settings)
            try:
                service.start()
                with Progress(service.metrics):
                    settled = service.engine.run_until_settled(args.timeout)
            finally:
                service.stop()
            events = _events(sandbox.kubeconfig_path)
        statuses = read_statuses(str(bare), "status", workdir / "status-cache")
        print()
        print(format_table(statuses))
        lineage = [line for entry in statuses.specs if (line := _lineage(entry)) is not None]
        if lineage:
            print("\nwhat serves what (from the status files):")
            for line in lineage:
                print(f"  {line}")
        print()
        print("git log --oneline status")
        for line in _status_log(bare, "status"):
            print(f"  {line}")
        note = _note(bare, head)
        if note:
            print("\ngit log --notes=reconciler main")
            print(f"  {head[:7]} Example ML specs")
            for line in note.splitlines():
                print(f"    {line}")
        header, *rows = events
        print(f"\nkubectl events -A (the reconciler's {len(rows)}; the newest {EVENTS_SHOWN})")
        for line in (header, *rows[-EVENTS_SHOWN:]):
            print(f"  {line}")
        print(f"\nthe spec repository stays at {bare}; read it with git:")
        print(f"  git -C {bare} log --notes=reconciler main   # the outcome note on each commit")
        print(
            f"  git -C {bare} show status:README.md         # the dashboard: table, graphs, lineage"
        )
        print(f"  git -C {bare} log --stat status             # each spec's status history")
        if not settled:
            print(f"\nspecs did not settle within {args.timeout:g}s", file=sys.stderr)
            return 1
        return 0
    finally:
        # The caches go; the spec repository, with its status branch and notes, stays.
        for name in ("cache", "status-cache"):
            shutil.rmtree(workdir / name, ignore_errors=True)
