"""The candidate spec files of a directory or of a commit's tree: every ``*.yaml``/``*.yml`` but
the root ``reconciler.yaml`` and ignored paths, never through a symbolic link or a submodule, each
with its blob id and a way to parse it on a cache miss."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from reconciler.specs import yamlsafe

CONFIG_FILE = "reconciler.yaml"
SPEC_SUFFIXES = (".yaml", ".yml")
READABLE_BLOB_MODES = (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE)


def blob_id(data: bytes) -> str:
    """The Git blob id of ``data``, so a directory and a commit key the cache alike."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Source:
    """One candidate spec file: its path, its blob id and how to parse it on a cache miss."""

    path: str
    blob: str  # empty when the file is refused unread (too large): nothing to cache
    parse: Callable[[], yamlsafe.ParsedFile]


def is_ignored(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` (relative, with ``/``) or one of its parent directories is ignored."""
    parts = path.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    for raw in patterns:
        pattern = raw.rstrip("/")
        variants = [pattern]
        if pattern.startswith("**/"):
            variants.append(pattern[3:])
        for candidate in candidates:
            for variant in variants:
                if fnmatch.fnmatchcase(candidate, variant):
                    return True
                if "/" not in variant and fnmatch.fnmatchcase(
                    candidate.rsplit("/", 1)[-1], variant
                ):
                    return True
    return False


def directory_sources(root: Path, ignore: Sequence[str]) -> Iterator[Source]:
    def walk(directory: Path, prefix: str) -> Iterator[Source]:
        with os.scandir(directory) as scan:
            entries = list(scan)
        for entry in entries:
            path = prefix + entry.name
            if entry.is_symlink() or (ignore and is_ignored(path, ignore)):
                continue
            if entry.is_dir():
                if entry.name != ".git":
                    yield from walk(Path(entry.path), path + "/")
            elif entry.is_file() and entry.name.endswith(SPEC_SUFFIXES) and path != CONFIG_FILE:
                yield file_source(Path(entry.path), path, entry.stat().st_size)

    yield from walk(root, "")


def file_source(file: Path, path: str, size: int) -> Source:
    refused = yamlsafe.oversize("", size)
    if refused is not None:
        return Source(path, "", lambda: refused)
    data = file.read_bytes()
    return Source(path, blob_id(data), lambda: yamlsafe.parse(data))


def commit_sources(
    repo: pygit2.Repository, tree: pygit2.Tree, ignore: Sequence[str]
) -> list[Source]:
    return SubtreeSources().sources(repo, tree, ignore)


class SubtreeSources:
    """The candidate files of a commit's tree, walking again only the subtrees that changed
    since the last walk: a subtree's id names its content, so the files under an unchanged one
    are the ones found last time. Keeps only the subtrees the last walk met."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[Source, ...]] = {}
        self._ignore: tuple[str, ...] = ()

    def sources(
        self, repo: pygit2.Repository, tree: pygit2.Tree, ignore: Sequence[str]
    ) -> list[Source]:
        if tuple(ignore) != self._ignore:  # which paths are ignored depends on the globs
            self._last, self._ignore = {}, tuple(ignore)
        seen: dict[tuple[str, str], tuple[Source, ...]] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> tuple[Source, ...]:
            found: list[Source] = []
            for entry in tree:
                path = prefix + (entry.name or "")
                if ignore and is_ignored(path, ignore):
                    continue
                if isinstance(entry, pygit2.Tree):
                    key = (str(entry.id), path)
                    below = self._last.get(key)
                    if below is None:
                        below = walk(entry, path + "/")
                    seen[key] = below
                    found.extend(below)
                elif (
                    isinstance(entry, pygit2.Blob)
                    and path.endswith(SPEC_SUFFIXES)
                    and path != CONFIG_FILE
                    and entry.filemode in READABLE_BLOB_MODES
                ):
                    found.append(blob_source(repo, entry.id, path))
            return tuple(found)

        found = list(walk(tree, ""))
        self._last = seen
        return found


def blob_source(repo: pygit2.Repository, oid: pygit2.Oid, path: str) -> Source:
    def parse() -> yamlsafe.ParsedFile:
        _, size = repo.odb.read_header(oid)
        return yamlsafe.oversize("", size) or yamlsafe.parse(repo[oid].data)

    return Source(path, str(oid), parse)
