"""Markdown for a pull-request comment: a summary table, then one collapsible section per spec.

Everything taken from the repository is escaped, so a spec cannot inject markup into the
comment: text in table cells and lists is escaped, code spans and fences are made longer than
any backtick run they hold. Output depends only on the review, so re-running a plan on the
same refs gives byte-identical text (CI can update its comment only when it changed).
"""

from __future__ import annotations

import re

from reconciler import yamlout
from reconciler.diff import ABSENT, FieldChange
from reconciler.review.model import ClusterDiff, ObjectAction, ObjectChange, Review, SpecChange
from reconciler.review.summary import headline, revision_label
from reconciler.review.values import comparable, exact

# GitHub rejects comments over 65,536 characters; leave room for a CI wrapper's own text.
MAX_LENGTH = 60_000
_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def format_markdown(review: Review, max_length: int = MAX_LENGTH) -> str:
    text = _render(review, diffs=True)
    if len(text) > max_length:
        text = _render(review, diffs=False)
    return text


def _render(review: Review, *, diffs: bool) -> str:
    base, head = _code(revision_label(review.base)), _code(revision_label(review.head))
    out = [f"### reconciler plan: {base} -> {head}", "", f"**{headline(review)}**", ""]
    if review.errors:
        out += ["**Errors** (the plan leaves these specs out):", ""]
        out += [f"- {_code(str(problem))}" for problem in review.errors]
        out.append("")
    if review.cluster_errors:
        out += ["**Cluster errors:**", ""]
        out += [f"- {_text(error)}" for error in review.cluster_errors]
        out.append("")
    shown = review.shown
    if not shown:
        return "\n".join(out)
    out += ["| Spec | Kind | Change | What happens | Risk |", "| --- | --- | --- | --- | --- |"]
    out += [_row(spec) for spec in shown]
    out.append("")
    if not diffs:
        out += [
            "Object diffs left out: they would not fit in one comment. "
            "Run `reconciler plan` locally to see them.",
            "",
        ]
    for spec in shown:
        out += _details(spec, diffs=diffs)
    return "\n".join(out)


def _row(spec: SpecChange) -> str:
    cells = [
        _code(f"{spec.namespace}/{spec.name}"),
        spec.kind,
        spec.change.value,
        "<br>".join(_text(line) for line in spec.happens),
        "<br>".join(f":warning: {_text(risk)}" for risk in spec.risks),
    ]
    return "| " + " | ".join(cells) + " |"


def _details(spec: SpecChange, *, diffs: bool) -> list[str]:
    out = [
        "<details>",
        f"<summary><code>{_html(spec.title)}</code> {spec.change.value}</summary>",
        "",
        f"File: {_code(spec.file)}",
        "",
    ]
    out += [f"- {_text(line)}" for line in spec.happens]
    out += [f"- :warning: {_text(risk)}" for risk in spec.risks]
    out.append("")
    objects = [obj for obj in spec.objects if obj.shown]
    if diffs and objects:
        out += _fenced("diff", [line for obj in objects for line in _object_diff(obj)])
        out.append("")
        clustered = [obj for obj in objects if obj.cluster is not None]
        if clustered:
            out += ["In the cluster (server-side dry run against the live objects):", ""]
            out += _fenced(
                "diff",
                [line for obj in clustered for line in _cluster_diff(obj, obj.cluster)],
            )
            out.append("")
    out += ["</details>", ""]
    return out


def _object_diff(obj: ObjectChange) -> list[str]:
    action = obj.action.value
    if obj.previous_name:
        action += f" of {obj.previous_name}"
    lines = [f"@@ {obj.title}: {action} @@"]
    if obj.action is ObjectAction.CREATE:
        manifest = yamlout.dump(comparable(obj.after))
        lines += [f"+ {line}" for line in manifest.splitlines()]
    lines += [line for change in obj.fields for line in _field_lines(change)]
    return lines


def _cluster_diff(obj: ObjectChange, cluster: ClusterDiff | None) -> list[str]:
    assert cluster is not None
    message = f" ({cluster.message})" if cluster.message else ""
    lines = [f"@@ {obj.title}: {cluster.action.value}{message} @@"]
    return lines + [line for change in cluster.fields for line in _field_lines(change)]


def _field_lines(change: FieldChange) -> list[str]:
    lines = []
    if change.before is not ABSENT:
        lines.append(f"- {change.path}: {exact(change.before)}")
    if change.after is not ABSENT:
        lines.append(f"+ {change.path}: {exact(change.after)}")
    return lines


def _fenced(language: str, lines: list[str]) -> list[str]:
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *lines, fence]


def _code(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{ticks}{padded}{ticks}"


def _html(text: str) -> str:
    # ">" is left alone: it reads better as "a -> b" and opens no tag.
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _text(text: str) -> str:
    """Plain text safe in a list item or table cell: no markup, no HTML, no line breaks."""
    escaped = _SPECIAL.sub(r"\\\1", _html(text)).replace("\n", " ")
    # A leading ">" would open a quote.
    return "\\" + escaped if escaped.startswith(">") else escaped
