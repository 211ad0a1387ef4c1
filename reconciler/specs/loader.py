"""Every spec of a repository, from a directory or straight from a commit's tree.

What is read: every ``*.yaml``/``*.yml`` file, recursively, except the root ``reconciler.yaml``
(the repository config) and paths matched by its ``ignore`` globs. Symbolic links and
submodules are never followed, so a spec cannot pull in a file from outside the repository.
What counts as a spec: a mapping whose ``apiVersion`` starts with ``mlops/``, or one without
``apiVersion`` whose ``kind`` is one of ours. Anything else (Kubernetes manifests, CI files) is
skipped; empty documents too.

Tenancy limits come from the operator (``limits``) and from ``reconciler.yaml``, which may only
narrow them: a value of the config outside the operator's bound is a problem of the config
(``rules.widened``), never a silent widening.

A ``reconciler.yaml`` that does not parse, does not validate or widens the operator's limits is
reported at its own location, in ``problems`` and in ``config_problems``. The specs are then
still checked against the defaults, so ``validate`` shows every problem at once, but such a
result is for reporting only: callers that act on the cluster apply nothing from it (fail
closed), since the config's limits and default namespace are missing.

Ignore globs (fnmatch, ``*`` also matches ``/``) match a path relative to the root, or any of
its parent directories; a glob without ``/`` also matches a bare file or directory name, and a
leading ``**/`` matches at any depth including the root.

Parsing and per-document validation depend only on a file's bytes, so their outcome is cached
by blob id (``ParseCache``): a commit that changes one file costs the parse of that file, and the
walk of the directories on its path (a subtree's id names its content). What stays is a lookup
per file and the rules across files.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import pygit2
from pydantic import ValidationError

from reconciler.errors import SpecProblem
from reconciler.specs import rules, yamlsafe
from reconciler.specs.fieldpaths import FieldPath, Mark, format_path, locate
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.specs.models import (
    API_GROUP_PREFIX,
    API_VERSION,
    DNS_LABEL,
    MAX_NAME,
    SPEC_ADAPTER,
    SPEC_KINDS,
    AnySpec,
    RepoConfig,
    TenancyLimits,
)
from reconciler.specs.sources import (
    CONFIG_FILE,
    READABLE_BLOB_MODES,
    Source,
    SubtreeSources,
    commit_sources,
    directory_sources,
    file_source,
)
from reconciler.specs.validation import problem_at, validation_problems

__all__ = [
    "CONFIG_FILE",
    "LoadResult",
    "LoadedSpec",
    "ParseCache",
    "SpecKey",
    "load_commit",
    "load_directory",
    "load_file",
]


# ---------------------------------------------------------------- per-file outcome (cached)


@dataclass(frozen=True)
class _Document:
    """A document that names a spec, valid or not; ``namespace`` as written (None: default)."""

    kind: str
    name: str
    namespace: str | None
    line: int
    marks: dict[FieldPath, Mark]  # only those rules.is_located
    spec: AnySpec | None
    problems: tuple[SpecProblem, ...]
    # Specs with the namespace resolved, per default namespace: resolving is not free.
    resolved: dict[str, AnySpec] = field(default_factory=dict, compare=False)

    def resolved_spec(self, default_namespace: str) -> AnySpec | None:
        if self.spec is None or self.namespace is not None:
            return self.spec
        spec = self.resolved.get(default_namespace)
        if spec is None:
            metadata = self.spec.metadata.model_copy(update={"namespace": default_namespace})
            spec = self.spec.model_copy(update={"metadata": metadata})
            self.resolved[default_namespace] = spec
        return spec


@dataclass(frozen=True)
class _FileOutcome:
    """What one file's bytes say, with ``file`` left empty in every problem."""

    documents: tuple[_Document, ...] = ()
    # File-level problems and those of documents that name no spec.
    problems: tuple[SpecProblem, ...] = ()


def _outcome(parsed: yamlsafe.ParsedFile) -> _FileOutcome:
    documents: list[_Document] = []
    problems = list(parsed.problems)
    for doc in parsed.documents:
        named = _document(doc)
        if isinstance(named, _Document):
            documents.append(named)
        else:
            problems.extend(named)
    return _FileOutcome(tuple(documents), tuple(problems))


def _document(doc: yamlsafe.Document) -> _Document | list[SpecProblem]:
    value = doc.value
    if not isinstance(value, dict):
        return list(doc.problems)  # empty (no problems) or a list/scalar document
    api_version = value.get("apiVersion")
    kind = value.get("kind")
    if api_version is None:
        if kind not in SPEC_KINDS:
            return []
    elif not (isinstance(api_version, str) and api_version.startswith(API_GROUP_PREFIX)):
        return []
    spec = None
    problems = list(doc.problems)
    if api_version not in (None, API_VERSION):
        problems.append(
            problem_at(
                doc, ("apiVersion",), f"unsupported apiVersion {api_version!r}; use {API_VERSION}"
            )
        )
    if not problems:
        try:
            spec = SPEC_ADAPTER.validate_python(value, by_alias=True, by_name=False)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, doc))
    name, namespace = _naming(value)
    if kind not in SPEC_KINDS or name is None:
        return problems
    marks = {path: mark for path, mark in doc.marks.items() if rules.is_located(path)}
    return _Document(kind, name, namespace, doc.line, marks, spec, tuple(problems))


def _naming(value: dict[Hashable, Any]) -> tuple[str | None, str | None]:
    """Name and namespace when they are usable as a key (and as a status file path)."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        return None, None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not _is_label(name) or not (namespace is None or _is_label(namespace)):
        return None, None
    return name, namespace


def _is_label(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME and bool(DNS_LABEL.fullmatch(value))


# ---------------------------------------------------------------- cache


@dataclass(frozen=True)
class _Placed:
    """One file's outcome at its path, under one default namespace: what a load takes from a
    file before the rules across files, with every problem stamped with the path."""

    problems: tuple[SpecProblem, ...]  # of the file and of documents that name no spec
    named: tuple[rules.Named, ...]
    # Per entry of ``named``: the spec, when its document has no problem of its own.
    specs: tuple[LoadedSpec | None, ...]
    # Per position in ``named`` of a document with problems of its own: those problems.
    own: tuple[tuple[int, tuple[SpecProblem, ...]], ...]


def _placed(source: Source, outcome: _FileOutcome, default_namespace: str) -> _Placed:
    named, specs, own = [], [], []
    for position, doc in enumerate(outcome.documents):
        key = SpecKey(doc.kind, doc.namespace or default_namespace, doc.name)
        spec = doc.resolved_spec(default_namespace)
        named.append(rules.Named(key, source.path, doc.marks, spec))
        problems = tuple(_stamped(doc.problems, source.path))
        if problems:
            own.append((position, problems))
        loaded = (
            None
            if problems or spec is None
            else LoadedSpec(spec, source.path, doc.line, source.blob)
        )
        specs.append(loaded)
    return _Placed(
        tuple(_stamped(outcome.problems, source.path)), tuple(named), tuple(specs), tuple(own)
    )


class ParseCache:
    """Outcomes of parsing and validating files by blob id, placed at their paths, and the
    candidate files under each subtree of the last commit loaded.

    A commit that changes one file parses that file and walks the directories on its path: a
    load of thousands of unchanged files costs a lookup each. Each load keeps only what it saw
    (``retain``), so the cache never outgrows one tree. ``hits`` and ``misses`` count parses
    avoided and done since creation.
    """

    def __init__(self) -> None:
        self._outcomes: dict[str, _FileOutcome] = {}
        self._users: Counter[str] = Counter()  # blob -> paths whose entry was parsed from it
        self._placed: dict[str, tuple[str, str, _Placed]] = {}  # path -> (blob, namespace, ...)
        self.trees = SubtreeSources()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._outcomes)

    def outcome(self, blob: str, parse: Callable[[], yamlsafe.ParsedFile]) -> _FileOutcome:
        cached = self._outcomes.get(blob)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        outcome = _outcome(parse())
        self._outcomes[blob] = outcome
        return outcome

    def placed(self, source: Source, default_namespace: str) -> _Placed:
        found = self._placed.get(source.path)
        if found is not None and found[0] == source.blob and found[1] == default_namespace:
            self.hits += 1
            return found[2]
        placed = _placed(source, self.outcome(source.blob, source.parse), default_namespace)
        # A path's new content replaces its old at once: a commit costs what it changed.
        self._users[source.blob] += 1
        self._forget(source.path)
        self._placed[source.path] = (source.blob, default_namespace, placed)
        return placed

    def retain(self, sources: Collection[Source]) -> None:
        # Every source has its entry now: only more entries than sources means deleted files.
        if len(self._placed) <= len(sources):
            return
        for path in self._placed.keys() - {source.path for source in sources}:
            self._forget(path)

    def _forget(self, path: str) -> None:
        entry = self._placed.pop(path, None)
        if entry is None:
            return
        blob = entry[0]
        self._users[blob] -= 1
        if self._users[blob] <= 0:
            del self._users[blob]
            self._outcomes.pop(blob, None)


# ---------------------------------------------------------------- config


def _config(
    data: bytes | None, limits: TenancyLimits | None = None
) -> tuple[RepoConfig, list[SpecProblem]]:
    """The repository config, or the defaults and why it could not be used.

    ``limits``: the operator's; a config asking for more than they allow cannot be used.
    """
    if data is None:
        return RepoConfig(), []
    parsed = yamlsafe.parse(data, CONFIG_FILE)
    problems = list(parsed.problems)
    documents = [doc for doc in parsed.documents if doc.value is not None]
    for doc in documents:
        problems.extend(doc.problems)
    if len(documents) > 1:
        second = documents[1]
        problems.append(
            SpecProblem(CONFIG_FILE, second.line, second.column, "", "expected one document")
        )
    if problems:
        return RepoConfig(), problems
    if not documents:
        return RepoConfig(), []
    document = documents[0]
    try:
        config = RepoConfig.model_validate(document.value, by_alias=True, by_name=False)
    except ValidationError as exc:
        found = validation_problems(exc, document)
        return RepoConfig(), [dataclasses.replace(p, file=CONFIG_FILE) for p in found]
    if limits is not None:
        for path, message in rules.widened(config, limits):
            line, column = locate(document.marks, path)
            problems.append(SpecProblem(CONFIG_FILE, line, column, format_path(path), message))
    if problems:
        return RepoConfig(), problems
    return config, []


def read_config(repo: pygit2.Repository, commit: pygit2.Oid | str) -> RepoConfig:
    """Only ``reconciler.yaml`` at ``commit``; its defaults when absent or broken."""
    tree = repo[commit].peel(pygit2.Tree)
    data = None
    if CONFIG_FILE in tree:  # pygit2 trees have no get()
        entry = tree[CONFIG_FILE]
        data = repo[entry.id].data if entry.type_str == "blob" else None
    return _config(data)[0]


def _read_config_file(root: Path) -> bytes | None:
    path = root / CONFIG_FILE
    if path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


def _read_config_blob(repo: pygit2.Repository, tree: pygit2.Tree) -> bytes | None:
    if CONFIG_FILE not in tree:
        return None
    entry = tree[CONFIG_FILE]
    if entry.type_str != "blob" or entry.filemode not in READABLE_BLOB_MODES:
        return None
    return repo[entry.id].data


# ---------------------------------------------------------------- entry points


def load_directory(
    root: Path, cache: ParseCache | None = None, limits: TenancyLimits | None = None
) -> LoadResult:
    """Every spec under ``root``, a working tree or any directory laid out like a repository.

    ``limits``: the operator's, applied on top of those of ``reconciler.yaml``.
    """
    config, config_problems = _config(_read_config_file(root), limits)
    sources = list(directory_sources(root, config.ignore))
    return _load(sources, config, config_problems, cache, limits=limits)


def load_commit(
    repo: pygit2.Repository,
    commit: pygit2.Commit | pygit2.Oid | str,
    cache: ParseCache | None = None,
    limits: TenancyLimits | None = None,
) -> LoadResult:
    """Every spec in ``commit``'s tree, read from the object database (no checkout).

    ``limits``: the operator's, applied on top of those of ``reconciler.yaml``.
    """
    if isinstance(commit, str):
        resolved = repo.revparse_single(commit).peel(pygit2.Commit)
    elif isinstance(commit, pygit2.Oid):
        resolved = repo[commit].peel(pygit2.Commit)
    else:
        resolved = commit
    tree = resolved.tree
    config, config_problems = _config(_read_config_blob(repo, tree), limits)
    if cache is None:
        sources = commit_sources(repo, tree, config.ignore)
    else:
        sources = cache.trees.sources(repo, tree, config.ignore)
    return _load(sources, config, config_problems, cache, limits=limits)


def load_file(file: Path) -> LoadResult:
    """One file on its own, with the default config; paths in the result are its bare name.

    References (``fromTraining``, ``fromPipeline``) are not checked: their targets may live in
    other files. A file named ``reconciler.yaml`` is checked as a repository config instead.
    """
    if file.name == CONFIG_FILE:
        config, problems = _config(file.read_bytes())
        return LoadResult(
            config=config,
            problems=tuple(sorted(problems)),
            failed_files=frozenset(p.file for p in problems),
            config_problems=tuple(sorted(problems)),
        )
    source = file_source(file, file.name, file.stat().st_size)
    return _load([source], RepoConfig(), [], None, references=False)


def _load(
    sources: Sequence[Source],
    config: RepoConfig,
    config_problems: list[SpecProblem],
    cache: ParseCache | None,
    references: bool = True,
    limits: TenancyLimits | None = None,
) -> LoadResult:
    cache = cache if cache is not None else ParseCache()
    # In file order, and documents come in line order: the specs need no sort of their own.
    sources = sorted(sources, key=attrgetter("path"))
    problems = list(config_problems)
    named: list[rules.Named] = []
    loaded: list[LoadedSpec | None] = []  # per entry of ``named``
    own: dict[int, tuple[SpecProblem, ...]] = {}  # per index of ``named``, when any
    for source in sources:
        if source.blob:
            placed = cache.placed(source, config.default_namespace)
        else:
            placed = _placed(source, _outcome(source.parse()), config.default_namespace)
        if placed.problems:
            problems.extend(placed.problems)
        for position, found in placed.own:
            own[len(named) + position] = found
        named.extend(placed.named)
        loaded.extend(placed.specs)
    cache.retain(sources)

    # Most documents have no problem: only those with any are visited one by one.
    broken = rules.check(named, config, references, limits)
    invalid: dict[SpecKey, list[SpecProblem]] = {}
    for index in sorted(own.keys() | broken.keys()):
        found = [*own.get(index, ()), *broken.get(index, ())]
        invalid.setdefault(named[index].key, []).extend(found)
        problems.extend(found)
    specs = [
        spec
        for index, spec in enumerate(loaded)
        if spec is not None and (not broken or index not in broken)
    ]
    return LoadResult(
        config=config,
        specs=tuple(specs),
        problems=tuple(sorted(problems)),
        invalid={key: tuple(sorted(found)) for key, found in invalid.items()},
        failed_files=frozenset(problem.file for problem in problems),
        config_problems=tuple(sorted(config_problems)),
    )


def _stamped(problems: Iterable[SpecProblem], file: str) -> Iterator[SpecProblem]:
    return (dataclasses.replace(problem, file=file) for problem in problems)
