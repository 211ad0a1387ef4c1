"""How values read in plain words and in diffs; the only place a value becomes text.

Everything shown comes from specs or rendered manifests, which hold Secret references and
never Secret values; env references are shortened to ``secretKeyRef name/key``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from reconciler import labels
from reconciler.diff import ABSENT
from reconciler.review.model import LIVE

# Stamped with the rendering commit, so it differs on every commit by design; never a change.
IGNORED_ANNOTATIONS = (labels.SOURCE_COMMIT,)

_REFERENCES = ("secretKeyRef", "configMapKeyRef")


def exact(value: Any) -> str:
    """JSON, so a string "8080" and a number 8080 read differently; for object diffs."""
    if value is ABSENT:
        return "(absent)"
    if value is LIVE:
        return "(live value, not shown)"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def plain(value: Any) -> str:
    """For sentences: strings unquoted, references shortened, missing values as (none)."""
    if value is ABSENT or value is None:
        return "(none)"
    if isinstance(value, dict):
        for reference in _REFERENCES:
            ref = value.get(reference)
            if isinstance(ref, dict):
                return f"{reference} {ref.get('name')}/{ref.get('key')}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def number(value: float) -> str:
    """``0.9`` as 0.9 and ``48.0`` as 48."""
    return f"{value:g}"


def comparable(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy without the annotations that change on every commit: what is compared and shown."""
    if manifest is None:
        return None
    result = copy.deepcopy(manifest)
    annotations = result.get("metadata", {}).get("annotations")
    if annotations:
        for key in IGNORED_ANNOTATIONS:
            annotations.pop(key, None)
    return result
