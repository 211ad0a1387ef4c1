"""Label and field selectors, with the grammar and the 400 errors of the real server.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists)
and ``!k`` (does not exist), comma-separated and all required. Field selectors:
``metadata.name`` and ``metadata.namespace`` with ``=``, ``==`` or ``!=``, plus the fields a kind
adds (only Events: ``eventsview``); any other field is a 400 BadRequest, as for most real
resources (the sandbox does not emulate per-kind fields such as ``status.phase`` for pods).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reconciler_sandbox import errors

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

_REQUIREMENT = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s,!=()]+)
      | (?P<key>[^\s,!=()]+)\s*(?:
            (?P<op>==|=|!=)\s*(?P<value>[^\s,!=()]*)
          | \s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\)
        )?
    )\s*(?:,|$)""",
    re.VERBOSE,
)
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _labels(obj: Obj) -> dict[str, str]:
    return obj.get("metadata", {}).get("labels") or {}


def parse_labels(text: str | None) -> Matcher | None:
    """A predicate over objects, or None when the selector selects everything."""
    if not text or not text.strip():
        return None
    tests: list[Matcher] = []
    rest = text
    while rest:
        match = _REQUIREMENT.match(rest)
        if not match or match.end() == 0:
            raise errors.bad_request(f"unable to parse requirement: {text!r}")
        rest = rest[match.end() :]
        tests.append(_requirement(match, text))
        if not rest.strip() and text.rstrip().endswith(","):
            raise errors.bad_request(f"unable to parse requirement: {text!r}")
    return lambda obj: all(test(obj) for test in tests)


def _requirement(match: re.Match[str], text: str) -> Matcher:
    if match["not"]:
        key = _check_key(match["nkey"])
        return lambda obj: key not in _labels(obj)
    key = _check_key(match["key"])
    if match["op"]:
        value = _check_value(match["value"])
        if match["op"] == "!=":
            return lambda obj: _labels(obj).get(key) != value
        return lambda obj: _labels(obj).get(key) == value
    if match["setop"]:
        values = {_check_value(v.strip()) for v in match["values"].split(",") if v.strip()}
        if not values:
            raise errors.bad_request(
                f"for 'in', 'notin' operators, values set can't be empty: {text!r}"
            )
        if match["setop"] == "in":
            return lambda obj: _labels(obj).get(key) in values
        return lambda obj: _labels(obj).get(key) not in values
    return lambda obj: key in _labels(obj)


def _check_key(key: str) -> str:
    if not _KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise errors.bad_request(
            f"unable to parse requirement: invalid label key {key!r}: name part must consist of "
            "alphanumeric characters, '-', '_' or '.'"
        )
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value) or len(value) > 63:
        raise errors.bad_request(
            f"unable to parse requirement: invalid label value: {value!r}: must be 63 characters "
            "or less and consist of alphanumeric characters, '-', '_' or '.'"
        )
    return value


_FIELDS: dict[str, Callable[[Obj], str]] = {
    "metadata.name": lambda obj: obj["metadata"].get("name", ""),
    "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
}


def parse_fields(
    text: str | None, kind: str = "", extra: dict[str, Callable[[Obj], str]] | None = None
) -> Matcher | None:
    """``extra``: the kind's own selectable fields (Events: ``eventsview``), read from an object."""
    if not text or not text.strip():
        return None
    tests: list[Matcher] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*([^,]*?)\s*", part)
        if not match:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        getter = _FIELDS.get(field) or (extra or {}).get(field)
        if getter is None:
            raise errors.bad_request(
                f"field label not supported: {field}"
                if not kind or extra
                else f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        if op == "!=":
            tests.append(lambda obj, g=getter, v=value: g(obj) != v)
        else:
            tests.append(lambda obj, g=getter, v=value: g(obj) == v)
    return lambda obj: all(test(obj) for test in tests)


def combine(*matchers: Matcher | None) -> Matcher | None:
    active = [m for m in matchers if m is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(m(obj) for m in active)
