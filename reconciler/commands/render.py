"""`reconciler render`: print (or write) the Kubernetes manifests a spec directory becomes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import pygit2

from reconciler import kinds, yamlout
from reconciler.errors import ConfigError, RenderError
from reconciler.render import Manifest, RenderContext, render, static_resolver
from reconciler.specs.loaded import LoadedSpec
from reconciler.specs.loader import load_directory

HELP = "print the Kubernetes manifests the specs under PATH become"
NO_COMMIT = "0" * 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="a directory of spec files")
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write one file per spec, DIR/<namespace>/<kind>/<name>.yaml, instead of printing",
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.path
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory")
    result = load_directory(root)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    failed = bool(result.problems)

    commit = head_commit(root)
    rendered: list[tuple[LoadedSpec, list[Manifest]]] = []
    for loaded in result.specs:
        ctx = RenderContext(commit, static_resolver(result.specs, loaded.key.namespace))
        try:
            rendered.append((loaded, render(loaded, ctx)))
        except RenderError as exc:
            print(f"{loaded.file}:{loaded.line}: {loaded.key}: {exc}", file=sys.stderr)
            failed = True

    if args.output_dir is None:
        sys.stdout.write(dump(sort_manifests(m for _, ms in rendered for m in ms)))
    else:
        for loaded, manifests in rendered:
            key = loaded.key
            target = args.output_dir / key.namespace / key.kind.lower() / f"{key.name}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump(manifests), encoding="utf-8")
    return 1 if failed else 0


def head_commit(path: Path) -> str:
    """HEAD of the Git repository containing ``path``; zeros outside Git or before a commit."""
    try:
        found = pygit2.discover_repository(str(path.resolve()))
        if found is None:
            return NO_COMMIT
        repo = pygit2.Repository(found)
        return NO_COMMIT if repo.head_is_unborn else str(repo.head.target)
    except pygit2.GitError:
        return NO_COMMIT


def sort_manifests(manifests: Iterable[Manifest]) -> list[Manifest]:
    """In the order they would be applied (the registry's rank), then by namespace and name."""

    def key(manifest: Manifest) -> tuple[int, str, str]:
        group = manifest["apiVersion"].rpartition("/")[0]
        meta = manifest["metadata"]
        return kinds.rank(group, manifest["kind"]), meta["namespace"], meta["name"]

    return sorted(manifests, key=key)


def dump(manifests: list[Manifest]) -> str:
    return yamlout.dump_all(manifests)
