"""Pydantic's validation errors as spec problems: each at the line and column of its field, with
the field named as it is written in YAML and pydantic's wording trimmed to the message."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from pydantic import ValidationError

from reconciler.errors import SpecProblem
from reconciler.specs import yamlsafe
from reconciler.specs.fieldpaths import FieldPath, format_path, locate
from reconciler.specs.models import SPEC_KINDS


def problem_at(doc: yamlsafe.Document, path: FieldPath, message: str) -> SpecProblem:
    """A problem at ``path``, or at its nearest written parent."""
    line, column = locate(doc.marks, path)
    return SpecProblem("", line, column, format_path(path), message)


_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_problems(exc: ValidationError, doc: yamlsafe.Document) -> list[SpecProblem]:
    problems = {}
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        path = _yaml_path(error["loc"], doc.value, error["type"] == "missing")
        message = _message(error["type"], error["msg"], path, doc.value)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found") and not path:
            path = ("kind",)
        elif error["type"] == "extra_forbidden":
            # Point at the unknown key itself, named in the message, under its parent.
            line, column = locate(doc.marks, path)
            problem = SpecProblem("", line, column, format_path(path[:-1]), message)
            problems[problem] = None
            continue
        problems[problem_at(doc, path, message)] = None
    return list(problems)


def _yaml_path(loc: tuple[int | str, ...], value: Any, missing: bool) -> FieldPath:
    """Pydantic's location without the union branch labels it adds (``TrainingJob``, ``str``).

    A component that is neither a key nor an index of the value at that point is a label,
    except the last one of a ``missing`` error, which names the missing field.
    """
    path: list[Hashable] = []
    for position, part in enumerate(loc):
        child = _child(value, part)
        if child is _ABSENT and not (missing and position == len(loc) - 1):
            continue
        value = child
        path.append(part)
    return tuple(path)


_ABSENT = object()


def _child(value: Any, part: int | str) -> Any:
    if isinstance(value, dict):
        return value.get(part, _ABSENT)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT


def _message(kind: str, message: str, path: FieldPath, value: Any) -> str:
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return f"unknown field {path[-1]!r}" if path else "unknown field"
    if kind == "union_tag_not_found" and not path:
        return "field required"
    if kind == "union_tag_invalid" and not path:
        return f"unknown kind {value.get('kind')!r}; expected one of {', '.join(SPEC_KINDS)}"
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
