"""Where a field is written: paths into a parsed document, their positions, and how people read
them (``spec.steps[1].dependsOn[0]``). Every spec problem names its field this way."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping

FieldPath = tuple[Hashable, ...]
Mark = tuple[int, int]  # 1-based line and column

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def locate(marks: Mapping[FieldPath, Mark], path: FieldPath) -> Mark:
    """The position of ``path``, or of its nearest written parent when it is missing."""
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark is not None:
            return mark
    return (1, 1)


def format_path(path: FieldPath) -> str:
    """A field path as people write it: ``spec.steps[1].dependsOn[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_quote(part)}]"
    return text


def _quote(key: Hashable) -> str:
    return '"' + str(key).replace("\\", "\\\\").replace('"', '\\"') + '"'
