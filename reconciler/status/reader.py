"""Read a status branch back: every spec's status and the repository status, for people."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import yaml

from reconciler.errors import SourceError
from reconciler.phase import Phase
from reconciler.source.credentials import Credentials
from reconciler.source.git import GitSource, tree_entries
from reconciler.specs.loaded import SpecKey
from reconciler.specs.models import ModelDeployment, Pipeline, TrainingJob
from reconciler.status.model import REPOSITORY_FILE, RepositoryStatus, SpecStatus
from reconciler.status.progress import progress

# Status paths hold the kind in lower case; this gives the spelling people write in specs.
COLUMNS = ("SPEC", "KIND", "NAMESPACE", "PHASE", "MESSAGE", "SOURCE")
WIDE_COLUMNS = (*COLUMNS, "SINCE", "OBJECTS", "DETAIL")
# Last, and only when a listed spec has a canary analysis or a sweep: the other columns stay put.
PROGRESS_COLUMN = "PROGRESS"
MAX_MESSAGE = 80  # characters of a message shown in the table; JSON output has all of it

_KINDS = {
    kind.lower(): kind
    for model in (ModelDeployment, TrainingJob, Pipeline)
    for kind in get_args(model.model_fields["kind"].annotation)
}


@dataclass(frozen=True)
class StatusEntry:
    key: SpecKey
    path: str
    status: SpecStatus


@dataclass(frozen=True)
class StatusSnapshot:
    """The status branch at one commit; ``problems`` lists files that could not be read."""

    commit: str
    repository: RepositoryStatus | None
    specs: tuple[StatusEntry, ...]
    problems: tuple[str, ...] = ()


def parse_status_files(files: Mapping[str, bytes], commit: str = "") -> StatusSnapshot:
    """Status files (path -> content) into a snapshot sorted by namespace, kind and name."""
    repository: RepositoryStatus | None = None
    specs: list[StatusEntry] = []
    problems: list[str] = []
    for path in sorted(files):
        try:
            if path == REPOSITORY_FILE:
                repository = RepositoryStatus.from_yaml(files[path])
                continue
            key = spec_key(path)
            if key is None:
                continue
            specs.append(StatusEntry(key, path, SpecStatus.from_yaml(files[path])))
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
    specs.sort(key=lambda e: (e.key.namespace, e.key.kind, e.key.name))
    return StatusSnapshot(commit, repository, tuple(specs), tuple(problems))


def spec_key(path: str) -> SpecKey | None:
    """The spec a ``<namespace>/<kind>/<name>.yaml`` path belongs to; None for other files."""
    parts = path.split("/")
    if len(parts) != 3 or not parts[2].endswith(".yaml"):
        return None
    namespace, kind, filename = parts
    return SpecKey(_KINDS.get(kind, kind), namespace, filename.removesuffix(".yaml"))


def read_statuses(
    url: str,
    branch: str = "status",
    cache_dir: Path | None = None,
    credentials: Credentials | None = None,
) -> StatusSnapshot:
    """Fetch ``branch`` of ``url`` (into ``cache_dir``, else a temporary one) and parse it.

    Raises SourceError when the repository or the branch cannot be read.
    """
    if cache_dir is not None:
        return _read(GitSource(url, branch, cache_dir, credentials))
    with tempfile.TemporaryDirectory(prefix="reconciler-status-") as tmp:
        return _read(GitSource(url, branch, Path(tmp) / "cache", credentials))


def format_table(snapshot: StatusSnapshot, wide: bool = False) -> str:
    """One row per spec (SPEC, KIND, NAMESPACE, PHASE, MESSAGE, SOURCE; ``wide`` adds SINCE,
    OBJECTS and DETAIL: replicas, current run, steps or served model; PROGRESS when a canary
    analysis or a sweep is listed), then the repository."""
    columns = WIDE_COLUMNS if wide else COLUMNS
    found = [progress(e.status.extra) for e in snapshot.specs]
    if any(found):
        columns = (*columns, PROGRESS_COLUMN)
    rows = []
    for e, moving in zip(snapshot.specs, found, strict=True):
        row: tuple[str, ...] = (
            e.key.name,
            e.key.kind,
            e.key.namespace,
            str(e.status.phase),
            _one_line(e.status.message),
            e.status.observed_commit[:7],
        )
        if wide:
            since = next((c.last_transition_time for c in e.status.conditions), "")
            row += (since, str(len(e.status.resources)), _detail(e.status))
        if any(found):
            row += (moving["summary"] if moving else "",)
        rows.append(row)
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [columns, *rows]
    ]
    repository = snapshot.repository
    if repository is not None:
        summary = f"repository: {repository.source_phase} at {repository.source_commit[:7]}"
        if repository.source_message:
            summary += f" ({_one_line(repository.source_message)})"
        lines += ["", summary]
        lines += [
            f"  unparsable: {f.file}:{f.line}: {f.message}" for f in repository.unparsable_files
        ]
        guard = repository.prune_guard
        if guard is not None and guard.held:
            lines.append(f"  prune guard held: {guard.reason}")
    return "\n".join(lines)


def _detail(status: SpecStatus) -> str:
    extra = status.extra
    parts = []
    replicas = extra.get("replicas")
    if isinstance(replicas, Mapping):
        parts.append(f"{replicas.get('ready', 0)}/{replicas.get('desired', 0)} replicas")
    if extra.get("currentRun"):
        parts.append(f"run {extra['currentRun']}")
    steps = extra.get("steps")
    if isinstance(steps, list) and steps:
        done = sum(1 for s in steps if isinstance(s, Mapping) and s.get("phase") == Phase.SUCCEEDED)
        parts.append(f"{done}/{len(steps)} steps")
    model = extra.get("model")
    if isinstance(model, Mapping) and model.get("uri"):
        parts.append(f"model {model['uri']}")
    return ", ".join(parts)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _read(source: GitSource) -> StatusSnapshot:
    tip = source.fetch()
    repo = source.repo
    try:
        files = {path: repo[oid].data for path, oid in tree_entries(repo, tip).items()}
    except (KeyError, ValueError) as exc:
        raise SourceError(f"cannot read status branch {source.branch!r}: {exc}") from None
    return parse_status_files(files, str(tip))
