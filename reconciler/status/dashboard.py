"""The status branch's ``README.md``: every spec at a glance, as GitHub and GitLab render it.

A pure function of the statuses: the same statuses give the same bytes, so the file changes only
in a commit that changes a status. No clock is read; "since" is each spec's last transition.
Readable at thousands of specs: one section per namespace (those with failures first), failing
and moving specs in the open, healthy ones folded away, every name linking to its status file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.phase import FAILING, HEALTHY, Phase
from reconciler.specs.loaded import SpecKey
from reconciler.status.model import RepositoryStatus, SpecStatus, status_path
from reconciler.sweep import report as sweep_report

FILE = "README.md"
MAX_MESSAGE = 100  # characters of a message in a table cell; the status file has all of it
MAX_GRAPHS = 30  # pipeline graphs drawn; more would make the page slow to render
OPEN_HEALTHY = 20  # healthy specs of a namespace shown without unfolding

MARKERS = {
    Phase.FAILED: "❌",
    Phase.INVALID: "⛔",
    Phase.DEGRADED: "🟠",
    Phase.PROGRESSING: "🔄",
    Phase.PENDING: "⏳",
    Phase.READY: "🟢",
    Phase.SUCCEEDED: "✅",
}
# Order of rows: what needs a person first.
_RANK = {phase: rank for rank, phase in enumerate(MARKERS)}
# Mermaid fill and stroke per phase of a pipeline step.
_COLOURS = {
    Phase.SUCCEEDED: ("#d4edda", "#28a745"),
    Phase.READY: ("#d4edda", "#28a745"),
    Phase.PROGRESSING: ("#cce5ff", "#007bff"),
    Phase.PENDING: ("#eeeeee", "#999999"),
    Phase.BLOCKED: ("#fff3cd", "#d39e00"),
    Phase.DEGRADED: ("#f8d7da", "#dc3545"),
    Phase.FAILED: ("#f8d7da", "#dc3545"),
}

_PLAIN = re.compile(rf"[\w.,:/ ()-]{{0,{MAX_MESSAGE}}}")

Statuses = Mapping[SpecKey, SpecStatus]


def render(statuses: Statuses, repository: RepositoryStatus | None = None) -> bytes:
    """The dashboard for ``statuses`` (every spec on the branch) and ``repository.yaml``."""
    lines = ["# Reconciler status", ""]
    lines += _summary(statuses, repository)
    lines += _specs(statuses)
    lines += _pipelines(statuses)
    lines += _sweeps(statuses)
    lines += _lineage(statuses)
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")


def marker(phase: str) -> str:
    return MARKERS.get(phase, "•")


def _rank(key: SpecKey, status: SpecStatus) -> tuple[int, str, str]:
    return (_RANK.get(str(status.phase), len(_RANK)), key.kind, key.name)


def _summary(statuses: Statuses, repository: RepositoryStatus | None) -> list[str]:
    counts = Counter(str(s.phase) for s in statuses.values())
    parts = [f"{marker(p)} {counts[p]} {p}" for p in MARKERS if counts[p]]
    lines = [f"**{len(statuses)} specs**: " + (" · ".join(parts) if parts else "none"), ""]
    if repository is not None:
        source = f"Source commit `{repository.source_commit[:7] or '-'}`: "
        source += f"{marker(str(repository.source_phase))} {repository.source_phase}"
        if repository.source_message:
            source += f" ({_cell(repository.source_message)})"
        lines += [source, ""]
        for bad in repository.unparsable_files:
            lines.append(f"- ⛔ `{bad.file}:{bad.line}` could not be parsed: {_cell(bad.message)}")
        guard = repository.prune_guard
        if guard is not None and guard.held:
            lines.append(f"- 🛑 prune guard held: {_cell(guard.reason)}")
        if repository.unparsable_files or (guard is not None and guard.held):
            lines.append("")
    return lines


def _specs(statuses: Statuses) -> list[str]:
    by_namespace: dict[str, list[tuple[SpecKey, SpecStatus]]] = {}
    for key, status in statuses.items():
        by_namespace.setdefault(key.namespace, []).append((key, status))
    lines: list[str] = []

    def failing(entries: list[tuple[SpecKey, SpecStatus]]) -> int:
        return sum(1 for _, s in entries if s.phase in FAILING)

    order = sorted(by_namespace, key=lambda ns: (failing(by_namespace[ns]) == 0, ns))
    for namespace in order:
        entries = sorted(by_namespace[namespace], key=lambda e: _rank(*e))
        counts = Counter(str(s.phase) for _, s in entries)
        tally = ", ".join(f"{counts[p]} {p}" for p in MARKERS if counts[p])
        noun = "spec" if len(entries) == 1 else "specs"
        lines += [f"## {namespace}", "", f"{len(entries)} {noun}: {tally}", ""]
        attention = [e for e in entries if e[1].phase not in HEALTHY]
        healthy = [e for e in entries if e[1].phase in HEALTHY]
        shown, folded = attention, healthy
        if len(healthy) <= OPEN_HEALTHY:
            shown, folded = attention + healthy, []
        if shown:
            lines += [*_table(shown), ""]
        if folded:
            lines += [
                f"<details><summary>{len(folded)} healthy specs</summary>",
                "",
                *_table(folded, with_message=False),
                "",
                "</details>",
                "",
            ]
    return lines


_HEADER = "| | Spec | Kind | Phase | Message | Source | Since |\n|---|---|---|---|---|---|---|"
# Healthy specs folded away in a big namespace: their messages say little and cost page size.
_SHORT_HEADER = "| | Spec | Kind | Phase | Source | Since |\n|---|---|---|---|---|---|"


def _table(entries: Iterable[tuple[SpecKey, SpecStatus]], with_message: bool = True) -> list[str]:
    rows = [_HEADER if with_message else _SHORT_HEADER]
    for key, status in entries:
        phase = str(status.phase)
        since = ""
        for condition in status.conditions:
            if condition.type == "Ready":
                since = condition.last_transition_time
        message = f" {_cell(status.message)} |" if with_message else ""
        rows.append(
            f"| {marker(phase)} | [{_cell(key.name)}]({status_path(key)}) | {key.kind} "
            f"| {phase} |{message} `{status.observed_commit[:7]}` | {since.replace('T', ' ')} |"
        )
    return rows


def _pipelines(statuses: Statuses) -> list[str]:
    pipelines = sorted(
        ((k, s) for k, s in statuses.items() if k.kind == "Pipeline" and s.extra.get("steps")),
        key=lambda e: (e[1].phase not in FAILING, e[0].namespace, e[0].name),
    )
    if not pipelines:
        return []
    lines = ["## Pipelines", ""]
    for key, status in pipelines[:MAX_GRAPHS]:
        lines += [
            f"### {marker(str(status.phase))} [{key.namespace}/{key.name}]({status_path(key)})",
            "",
            *_graph(status.extra["steps"]),
            "",
        ]
    if len(pipelines) > MAX_GRAPHS:
        lines += [f"{len(pipelines) - MAX_GRAPHS} more pipelines: see their status files.", ""]
    return lines


def _graph(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """A Mermaid flowchart of a pipeline's steps, each coloured by its phase."""
    ids = {str(step.get("name")): f"s{i}" for i, step in enumerate(steps)}
    lines = ["```mermaid", "flowchart LR"]
    used: set[str] = set()
    for step in steps:
        name, phase = str(step.get("name")), str(step.get("phase") or "Pending")
        style = Phase(phase) if phase in _COLOURS else Phase.PENDING
        used.add(style)
        label = f"{name}<br/>{phase}".replace('"', "#quot;")
        lines.append(f'  {ids[name]}["{label}"]:::{style}')
    for step in steps:
        for upstream in step.get("dependsOn") or ():
            if str(upstream) in ids:
                lines.append(f"  {ids[str(upstream)]} --> {ids[str(step.get('name'))]}")
    for style in sorted(used):
        fill, stroke = _COLOURS[style]
        lines.append(f"  classDef {style} fill:{fill},stroke:{stroke}")
    lines.append("```")
    return lines


def _sweeps(statuses: Statuses) -> list[str]:
    """One table of trials per sweep, the best marked."""
    found = sorted(
        (key, status)
        for key, status in statuses.items()
        if isinstance(status.extra.get("sweep"), Mapping)
    )
    lines = ["## Sweeps", ""] if found else []
    for key, status in found[:MAX_GRAPHS]:
        sweep = status.extra["sweep"]
        title = f"### {marker(str(status.phase))} [{key.namespace}/{key.name}]({status_path(key)})"
        lines += [title, "", _cell(sweep_report.summary_line(sweep)), ""]
        lines += [*sweep_report.table(sweep, markdown=True), ""]
    return lines


def _lineage(statuses: Statuses) -> list[str]:
    """Commit -> training run -> metrics -> gate -> model URI -> serving spec, per served model."""
    producers: dict[str, tuple[SpecKey, str]] = {}  # run name -> (spec that made it, label)
    for key, status in statuses.items():
        for run in status.extra.get("runs") or ():
            producers[str(run.get("name"))] = (key, key.name)
        for step in status.extra.get("steps") or ():
            if step.get("run"):
                producers[str(step["run"])] = (key, f"{key.name} step {step.get('name')}")
    rows: list[str] = []
    # One kind: the keys' own order is by namespace, then name.
    for key in sorted(key for key in statuses if key.kind == "ModelDeployment"):
        status = statuses[key]
        for role in ("model", "canary"):
            model = status.extra.get(role)
            if not isinstance(model, Mapping) or not model.get("run"):
                continue
            run = str(model["run"])
            producer = producers.get(run)
            made_by = f"[{producer[1]}]({status_path(producer[0])})" if producer else "-"
            metrics = ", ".join(f"{n} {v}" for n, v in (model.get("metrics") or {}).items())
            gate = ", ".join(f"{n} ≥ {v}" for n, v in (model.get("gate") or {}).items())
            serving = f"[{_cell(key.name)}]({status_path(key)})"
            if role == "canary":
                serving += f" (canary {model.get('trafficPercent', '?')}%)"
            if model.get("promotion") == "PendingLoad":
                serving += " (waits to load)"
            run_cell = f"`{run}`"
            if isinstance(model.get("trial"), Mapping):
                run_cell += f" ({_cell(sweep_report.trial_text(model['trial']))})"
            rows.append(
                f"| `{str(model.get('runSourceCommit') or '')[:7]}` | {made_by} | {run_cell} "
                f"| {metrics or '-'} | {gate or '-'} | `{model.get('uri', '')}` "
                f"| {marker(str(status.phase))} {serving} |"
            )
    if not rows:
        return []
    return [
        "## Served models",
        "",
        "| Commit | Trained by | Run | Metrics | Gate | Model URI | Serving |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _cell(text: str) -> str:
    """One table-safe line: no pipes, no HTML, no line breaks, bounded."""
    if _PLAIN.fullmatch(text):
        return text  # the common case (names, short messages), kept fast at thousands of rows
    line = " ".join(str(text).split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 1] + "…"
    return line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
