"""Loading straight from a commit's tree, and the parse cache across commits."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from reconciler.errors import SpecProblem
from reconciler.specs.loader import ParseCache, load_commit, load_directory
from reconciler.specs.sources import blob_id
from tests.specs.conftest import TRAINING, Writer

SIGNATURE = pygit2.Signature("Test", "test@example.com", 0, 0)

FILES = {
    "reconciler.yaml": "defaultNamespace: ml\nignore: [drafts]\n",
    "training/churn.yaml": TRAINING,
    "training/more.yml": TRAINING.replace("churn-train", "second")
    + "---\n"
    + TRAINING.replace("churn-train", "third").replace("image: ", "imag: "),
    "drafts/wip.yaml": "apiVersion: mlops/v1alpha1\nkind: TrainingJob\n",
    "ci.yml": "on: push\n",
    "bad.yaml": b"a: caf\xe9\n",
}


def _commit(repo: pygit2.Repository, message: str) -> pygit2.Oid:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)


@pytest.fixture
def repo(write_repo: Writer) -> pygit2.Repository:
    root = write_repo(FILES)
    repository = pygit2.init_repository(str(root))
    _commit(repository, "specs")
    return repository


def _root(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir)


def test_a_commit_loads_like_its_checkout(repo: pygit2.Repository) -> None:
    from_commit = load_commit(repo, "HEAD")
    from_directory = load_directory(_root(repo))

    assert from_commit == from_directory
    assert [loaded.key.name for loaded in from_commit.specs] == ["churn-train", "second"]
    assert from_commit.failed_files == {"bad.yaml", "training/more.yml"}
    assert from_commit.specs[0].blob == str(repo.revparse_single("HEAD:training/churn.yaml").id)


def test_a_commit_can_be_named_by_oid_object_or_revision(repo: pygit2.Repository) -> None:
    head = repo.head.target
    expected = load_commit(repo, "HEAD")

    assert load_commit(repo, head) == expected
    assert load_commit(repo, repo[head]) == expected
    assert load_commit(repo, str(head)) == expected


def test_the_working_tree_is_not_read(repo: pygit2.Repository) -> None:
    (_root(repo) / "training" / "churn.yaml").write_text("not: committed\n")

    result = load_commit(repo, "HEAD")

    assert [loaded.key.name for loaded in result.specs] == ["churn-train", "second"]


def test_unchanged_blobs_are_not_parsed_again(repo: pygit2.Repository) -> None:
    cache = ParseCache()
    first = load_commit(repo, "HEAD", cache)
    assert (cache.hits, cache.misses) == (0, 4)

    assert load_commit(repo, "HEAD", cache) == first
    assert (cache.hits, cache.misses) == (4, 4)

    (_root(repo) / "training" / "churn.yaml").write_text(TRAINING.replace(":1", ":2"))
    _commit(repo, "new image")
    second = load_commit(repo, "HEAD", cache)

    assert (cache.hits, cache.misses) == (7, 5)
    assert second.specs[0].spec.spec.image == "registry.example.com/train:2"
    # The blob the old commit had is gone from the cache: it only holds the latest tree.
    assert len(cache) == 4


def test_the_directory_loader_shares_the_cache_keys(repo: pygit2.Repository) -> None:
    cache = ParseCache()
    load_commit(repo, "HEAD", cache)

    load_directory(_root(repo), cache)

    assert (cache.hits, cache.misses) == (4, 4)
    assert blob_id(TRAINING.encode()) == str(pygit2.hash(TRAINING.encode()))


def test_oversize_blobs_are_refused_without_parsing(repo: pygit2.Repository) -> None:
    (_root(repo) / "huge.yaml").write_bytes(b"#" * ((1 << 20) + 1))
    _commit(repo, "huge")

    result = load_commit(repo, "HEAD")

    assert (
        SpecProblem("huge.yaml", 1, 1, "", "file is 1048577 bytes, more than the limit of 1048576")
        in result.problems
    )


def test_symbolic_links_in_a_commit_are_not_followed(repo: pygit2.Repository) -> None:
    (_root(repo) / "link.yaml").symlink_to("training/churn.yaml")
    _commit(repo, "link")

    result = load_commit(repo, "HEAD")

    assert [loaded.file for loaded in result.specs] == ["training/churn.yaml", "training/more.yml"]


def _remove(root: Path, path: str) -> None:
    (root / path).unlink()


def _add(root: Path, path: str, content: str) -> None:
    (root / path).parent.mkdir(parents=True)
    (root / path).write_text(content)


def _rename_directory(root: Path, old: str, new: str) -> None:
    (root / old).rename(root / new)


# Each edit, committed after a load that filled the cache: the next load through the cache must
# equal a load without one (what it walked again and what it reused must not show).
EDITS = {
    "one file changed": lambda root: (root / "training/churn.yaml").write_text(
        TRAINING.replace(":1", ":2")
    ),
    "a file removed": lambda root: _remove(root, "training/churn.yaml"),
    "a directory renamed": lambda root: _rename_directory(root, "training", "train"),
    "a new directory": lambda root: _add(
        root, "new/deep/x.yaml", TRAINING.replace("churn-train", "x")
    ),
    "the ignore globs changed": lambda root: (root / "reconciler.yaml").write_text(
        "defaultNamespace: ml\nignore: [training/more.yml]\n"
    ),
    "the default namespace changed": lambda root: (root / "reconciler.yaml").write_text(
        "defaultNamespace: other\nignore: [drafts]\n"
    ),
    "an ignored directory fixed": lambda root: (root / "drafts" / "wip.yaml").write_text(
        TRAINING.replace("churn-train", "draft")
    ),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_load_through_the_cache_equals_a_fresh_load(repo: pygit2.Repository, edit) -> None:
    cache = ParseCache()
    load_commit(repo, "HEAD", cache)
    edit(_root(repo))
    _commit(repo, "edit")

    assert load_commit(repo, "HEAD", cache) == load_commit(repo, "HEAD")


def test_only_the_directories_a_commit_changed_are_walked_again(
    repo: pygit2.Repository,
) -> None:
    (_root(repo) / "serving").mkdir()
    (_root(repo) / "serving" / "a.yaml").write_text(TRAINING.replace("churn-train", "a"))
    _commit(repo, "second directory")
    cache = ParseCache()
    tree = repo.revparse_single("HEAD").peel(pygit2.Tree)
    before = {s.path: s for s in cache.trees.sources(repo, tree, ["drafts"])}
    (_root(repo) / "training" / "churn.yaml").write_text(TRAINING.replace(":1", ":2"))
    tree = repo[_commit(repo, "one file")].peel(pygit2.Tree)

    after = {s.path: s for s in cache.trees.sources(repo, tree, ["drafts"])}

    assert after.keys() == before.keys()
    assert after["serving/a.yaml"] is before["serving/a.yaml"]  # unchanged: not walked
    assert after["training/more.yml"] is not before["training/more.yml"]
    assert after["training/churn.yaml"].blob != before["training/churn.yaml"].blob


def test_specs_come_in_file_then_line_order_from_a_commit_and_a_directory(
    write_repo: Writer,
) -> None:
    # Paths that sort on the byte after "a": "-" < "." < "/" < "0", files and directories mixed.
    def named(name: str) -> str:
        return TRAINING.replace("churn-train", name)

    root = write_repo(
        {
            "a0.yaml": named("last"),
            "a.yaml": named("third") + "---\n" + named("fourth"),
            "a/z.yaml": named("second"),
            "a-b/y.yaml": named("first"),
        }
    )
    repository = pygit2.init_repository(str(root))
    _commit(repository, "specs")

    for result in (load_commit(repository, "HEAD", ParseCache()), load_directory(root)):
        assert [(loaded.file, loaded.key.name) for loaded in result.specs] == [
            ("a-b/y.yaml", "first"),
            ("a.yaml", "third"),
            ("a.yaml", "fourth"),
            ("a/z.yaml", "second"),
            ("a0.yaml", "last"),
        ]
