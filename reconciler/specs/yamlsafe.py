"""Reading YAML that anyone could have pushed, without crashing, hanging or running code.

The bytes of one file become plain Python documents (dicts, lists, str, int, float, bool, None)
built from libyaml's event stream, so every node keeps its position and nothing is ever
constructed from a tag. A file is refused as a whole (``ParsedFile.problems``) when it is too
large, not UTF-8, not YAML, nested too deeply or when its aliases would expand too far. A
document is refused on its own (``Document.problems``) when its root is not a mapping, when it
repeats a key or uses a tag other than the core ones: the loader reports those only for
documents that are specs, so foreign YAML with its own tags (CloudFormation, GitLab CI) is
skipped quietly.

Plain scalars resolve as PyYAML's safe loader resolves them (YAML 1.1: ``yes`` is true,
``0o17`` is an int), with one exception: timestamps stay strings, since no spec field is a date
and ``runTrigger: 2024-05-01`` should mean the text that was written. Merge keys (``<<: *x``)
are honoured; aliases are limited in number and in how many nodes they add, which stops
"billion laughs" documents long before they cost memory.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from reconciler.errors import SpecProblem
from reconciler.specs.fieldpaths import FieldPath, Mark, format_path

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIASES = 64
# Nodes that aliases may add on top of those written out: ample for merge-key templates,
# far below what a "billion laughs" document needs.
MAX_ALIAS_NODES = 10_000

_CORE = "tag:yaml.org,2002:"
_STR = _CORE + "str"
_MAP = _CORE + "map"
_SEQ = _CORE + "seq"
_MERGE = _CORE + "merge"
_INT = _CORE + "int"
_BOOL = _CORE + "bool"
_BOOLS = yaml.constructor.SafeConstructor.bool_values
_SCALAR_TAGS = frozenset(_CORE + name for name in ("int", "float", "bool", "null"))
# Tags the implicit resolver may give a plain scalar that no spec field wants as an object.
_KEPT_AS_WRITTEN = frozenset(_CORE + name for name in ("timestamp", "value", "yaml"))
_RESOLVERS = yaml.CSafeLoader.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_BUILDERS = {
    _CORE + "null": _CONSTRUCTOR.construct_yaml_null,
    _CORE + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _CORE + "int": _CONSTRUCTOR.construct_yaml_int,
    _CORE + "float": _CONSTRUCTOR.construct_yaml_float,
}


@dataclass(frozen=True)
class Document:
    """One YAML document: its value, where it starts, and where each field of it is written."""

    value: Any
    line: int
    column: int
    # Field path -> position of the key (for mapping entries) or of the item (for list items).
    marks: Mapping[FieldPath, Mark]
    problems: tuple[SpecProblem, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    documents: tuple[Document, ...] = ()
    # Problems that make the whole file unreadable; ``documents`` is then empty.
    problems: tuple[SpecProblem, ...] = ()


@dataclass(frozen=True)
class Limits:
    """How much one file may ask of the reader; beyond any of these the file is refused."""

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_aliases: int = MAX_ALIASES
    max_alias_nodes: int = MAX_ALIAS_NODES


class _Fatal(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def parse(data: bytes, file: str = "", limits: Limits = Limits()) -> ParsedFile:
    """Split one file into documents; never raises for anything the bytes contain."""
    try:
        refused = oversize(file, len(data), limits)
        if refused is not None:
            return refused
        _check_utf8(data)
        return ParsedFile(documents=tuple(_Builder(data, file, limits).documents()))
    except _Fatal as exc:
        return ParsedFile(problems=(SpecProblem(file, exc.line, exc.column, "", exc.message),))


def oversize(file: str, size: int, limits: Limits = Limits()) -> ParsedFile | None:
    """The refusal ``parse`` gives a file of ``size`` bytes, decided before reading it."""
    if size <= limits.max_bytes:
        return None
    message = f"file is {size} bytes, more than the limit of {limits.max_bytes}"
    return ParsedFile(problems=(SpecProblem(file, 1, 1, "", message),))


def _display_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _check_utf8(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise _Fatal(
            line, column, f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def _position(data: bytes, offset: int) -> Mark:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


class _NoKey:
    """Marks a mapping that waits for its next key."""


_NO_KEY = _NoKey()
_SKIP = object()  # the key of an entry that is dropped (duplicate or unusable key)


@dataclass
class _Frame:
    container: dict[Hashable, Any] | list[Any]
    path: FieldPath | None  # None inside a complex key, whose descendants have no field path
    mark: Mark
    anchor: str | None
    first_mark: int  # index in the marks list where this node's descendants start
    first_node: int
    key: Any = _NO_KEY
    key_is_merge: bool = False
    merges: list[tuple[dict[Hashable, Any], list[tuple[FieldPath, Mark]]]] = field(
        default_factory=list
    )
    written: dict[Hashable, Mark] = field(default_factory=dict)


@dataclass
class _Anchor:
    value: Any
    nodes: int
    entries: list[tuple[FieldPath, Mark]]  # marks of the descendants, relative to the anchor


class _Builder:
    """Turns libyaml events into documents; one instance per file."""

    def __init__(self, data: bytes, file: str, limits: Limits) -> None:
        self.data = data
        self.file = file
        self.limits = limits

    def documents(self) -> list[Document]:
        loader = yaml.CSafeLoader(self.data)
        try:
            return self._documents(loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = exc.problem or exc.context or "invalid YAML"
            raise _Fatal(line, column, f"invalid YAML: {problem}") from None
        except yaml.reader.ReaderError as exc:
            line, column = _position(self.data, exc.position)
            raise _Fatal(line, column, f"invalid YAML: {exc.reason}") from None
        except yaml.YAMLError as exc:
            raise _Fatal(1, 1, f"invalid YAML: {exc}") from None
        finally:
            loader.dispose()

    def _documents(self, loader: yaml.CSafeLoader) -> list[Document]:
        documents = []
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.StreamEndEvent) or event is None:
                return documents
            if isinstance(event, yaml.DocumentStartEvent):
                documents.append(self._document(loader))

    def _document(self, loader: yaml.CSafeLoader) -> Document:
        self.marks: list[tuple[FieldPath, Mark]] = []
        self.problems: list[SpecProblem] = []
        self.anchors: dict[str, _Anchor] = {}
        self.aliases = 0
        self.alias_nodes = 0
        self.nodes = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.root_mark: Mark = (1, 1)
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self._scalar(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._start(event, kind is yaml.MappingStartEvent)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self._end()
            elif kind is yaml.AliasEvent:
                self._alias(event)
            elif kind is yaml.DocumentEndEvent:
                break
        if self.root is not None and not isinstance(self.root, dict):
            shape = "a list" if isinstance(self.root, list) else "a scalar"
            self._problem(self.root_mark, "", f"document is {shape}, expected a mapping")
        line, column = self.root_mark
        return Document(self.root, line, column, dict(self.marks), tuple(self.problems))

    # ------------------------------------------------------------ events

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        start = event.start_mark
        mark = (start.line + 1, start.column + 1)
        self.nodes += 1
        value = event.value
        tag = event.tag
        if tag is None:
            tag = _resolve(value) if event.implicit[0] else _STR
        is_merge = tag == _MERGE
        if tag == _STR or tag == "!" or is_merge:
            result: Any = value
        elif tag in _SCALAR_TAGS:
            result = self._typed(value, tag, mark)
        else:
            self._bad_tag(tag, mark)
            result = value
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(result, 1, [])
        self._deliver(result, mark, [], is_merge)

    def _typed(self, value: str, tag: str, mark: Mark) -> Any:
        # Shortcuts for the common spellings; PyYAML's constructors handle the rest.
        if tag == _INT and value.isascii() and value.isdigit() and value[:1] != "0":
            return int(value)
        if tag == _BOOL and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        try:
            return _SCALAR_BUILDERS[tag](ScalarNode(tag, value))
        except (ValueError, KeyError, TypeError):
            self._problem(
                mark, self._child_field(), f"{value!r} is not a valid {tag[len(_CORE) :]}"
            )
            return value

    def _start(self, event: yaml.CollectionStartEvent, is_mapping: bool) -> None:
        mark = (event.start_mark.line + 1, event.start_mark.column + 1)
        if len(self.stack) >= self.limits.max_depth:
            raise _Fatal(*mark, f"nesting is deeper than {self.limits.max_depth} levels")
        self.nodes += 1
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP if is_mapping else _SEQ):
            self._bad_tag(tag, mark)
        path = self._child_path()
        parent = self.stack[-1] if self.stack else None
        if path is not None and parent is not None and isinstance(parent.container, list):
            self.marks.append((path, mark))
        container: dict[Hashable, Any] | list[Any] = {} if is_mapping else []
        self.stack.append(_Frame(container, path, mark, event.anchor, len(self.marks), self.nodes))

    def _end(self) -> None:
        frame = self.stack.pop()
        if frame.merges:
            self._merge(frame)
        entries: list[tuple[FieldPath, Mark]] = []
        wanted = frame.anchor is not None or (self.stack and self.stack[-1].key_is_merge)
        if wanted and frame.path is not None:
            depth = len(frame.path)
            entries = [(path[depth:], mark) for path, mark in self.marks[frame.first_mark :]]
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchor(
                frame.container, self.nodes - frame.first_node + 1, entries
            )
        self._deliver(frame.container, frame.mark, entries, False, placed=True)

    def _alias(self, event: yaml.AliasEvent) -> None:
        mark = (event.start_mark.line + 1, event.start_mark.column + 1)
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise _Fatal(*mark, f"alias *{event.anchor} names no anchor defined before it")
        self.aliases += 1
        self.alias_nodes += anchor.nodes
        if self.aliases > self.limits.max_aliases:
            raise _Fatal(*mark, f"more than {self.limits.max_aliases} aliases in one document")
        if self.alias_nodes > self.limits.max_alias_nodes:
            raise _Fatal(
                *mark,
                f"aliases expand to more than {self.limits.max_alias_nodes} nodes (an alias bomb?)",
            )
        self.nodes += anchor.nodes
        path = self._child_path()
        if path is not None:
            parent = self.stack[-1] if self.stack else None
            if parent is not None and isinstance(parent.container, list):
                self.marks.append((path, mark))
            self.marks.extend((path + rel, where) for rel, where in anchor.entries)
        self._deliver(anchor.value, mark, anchor.entries, False, placed=True)

    # ------------------------------------------------------------ building

    def _child_path(self) -> FieldPath | None:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if frame.path is None:
            return None
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        if frame.key_is_merge:
            return (*frame.path, "<<")
        if frame.key is _NO_KEY or frame.key is _SKIP:
            return None
        return (*frame.path, frame.key)

    def _child_field(self) -> str:
        path = self._child_path()
        return "" if path is None else format_path(path)

    def _deliver(
        self,
        value: Any,
        mark: Mark,
        entries: list[tuple[FieldPath, Mark]],
        is_merge_key: bool,
        placed: bool = False,
    ) -> None:
        """Hand a finished node to its parent; ``placed`` nodes recorded their own mark."""
        if not self.stack:
            self.root = value
            self.root_mark = mark
            self.marks.append(((), mark))
            return
        frame = self.stack[-1]
        container = frame.container
        if isinstance(container, list):
            if not placed and frame.path is not None:
                self.marks.append(((*frame.path, len(container)), mark))
            container.append(value)
            return
        if frame.key is _NO_KEY:
            self._take_key(frame, value, mark, is_merge_key)
            return
        key, frame.key = frame.key, _NO_KEY
        if frame.key_is_merge:
            frame.key_is_merge = False
            self._take_merge(frame, value, mark, entries)
        elif key is not _SKIP:
            container[key] = value

    def _take_key(self, frame: _Frame, key: Any, mark: Mark, is_merge: bool) -> None:
        if is_merge:
            frame.key = _SKIP
            frame.key_is_merge = True
            return
        if type(key) is dict or type(key) is list:
            self._problem(mark, _field(frame.path), "mapping keys must be scalars")
            frame.key = _SKIP
            return
        first = frame.written.get(key)
        if first is not None:
            path = (*(frame.path or ()), key)
            self._problem(mark, format_path(path), f"duplicate key (first at line {first[0]})")
            frame.key = _SKIP
            return
        frame.written[key] = mark
        frame.key = key
        if frame.path is not None:
            self.marks.append(((*frame.path, key), mark))

    def _take_merge(
        self, frame: _Frame, value: Any, mark: Mark, entries: list[tuple[FieldPath, Mark]]
    ) -> None:
        if isinstance(value, dict):
            frame.merges.append((value, entries))
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                own = [(rel[1:], where) for rel, where in entries if rel[:1] == (index,)]
                frame.merges.append((item, own))
        else:
            self._problem(mark, _field(frame.path), "<< must merge a mapping or a list of them")

    def _merge(self, frame: _Frame) -> None:
        """Merged keys fill in what the mapping does not say itself; earlier sources win."""
        container = frame.container
        assert isinstance(container, dict)
        for source, entries in frame.merges:
            for key, value in source.items():
                if key in container:
                    continue
                container[key] = value
                if frame.path is not None:
                    self.marks.extend(
                        ((*frame.path, *rel), where) for rel, where in entries if rel[:1] == (key,)
                    )

    # ------------------------------------------------------------ problems

    def _bad_tag(self, tag: str, mark: Mark) -> None:
        self._problem(
            mark,
            self._child_field(),
            f"tag {_display_tag(tag)} is not allowed (only plain strings, numbers, booleans, "
            "null, mappings and lists)",
        )

    def _problem(self, mark: Mark, field_path: str, message: str) -> None:
        self.problems.append(SpecProblem(self.file, mark[0], mark[1], field_path, message))


def _field(path: FieldPath | None) -> str:
    return "" if path is None else format_path(path)


@functools.lru_cache(maxsize=4096)
def _resolve(value: str) -> str:
    """The tag PyYAML's safe loader gives a plain scalar, or str for those kept as written."""
    for tag, pattern in _RESOLVERS.get(value[:1], ()):
        if pattern.match(value):
            return _STR if tag in _KEPT_AS_WRITTEN else tag
    return _STR
