"""YAML as reconciler writes it: stable key order, never wrapped, and read back the same by
YAML 1.1 parsers (PyYAML) and YAML 1.2 parsers (kubectl, most editors).

PyYAML leaves a string such as ``1e234567`` (a plausible run hash) unquoted because YAML 1.1
does not read it as a number; YAML 1.2 does. Such strings are quoted here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

_YAML12_NUMBER = re.compile(
    r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|0o[0-7]+|0x[0-9a-fA-F]+|\.inf|\.Inf|\.INF)$|^\.(?:nan|NaN|NAN)$"
)


class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if _YAML12_NUMBER.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str.__str__(value), style=style)


Dumper.add_representer(str, _string)
# Subclasses too (phases are a StrEnum): a status file holds the plain string either way.
Dumper.add_multi_representer(str, _string)

_OPTIONS: dict[str, Any] = {
    "Dumper": Dumper,
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 1_000_000,  # never wrap: a wrapped line diffs badly and reads worse
}


def dump(data: Any) -> str:
    return yaml.dump(data, **_OPTIONS)


def dump_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(documents, **_OPTIONS)
