"""Hostile or malformed YAML: one clear problem each, and the other files still load."""

from __future__ import annotations

import pytest

from reconciler.errors import SpecProblem
from reconciler.specs.loaded import SpecKey
from reconciler.specs.loader import load_directory
from tests.specs.conftest import TRAINING, Writer

HEAD = b"apiVersion: mlops/v1alpha1\nkind: TrainingJob\n"
LAUGHS = HEAD + b"".join(
    b"%s: &%s [%s]\n" % (name, name, b",".join([ref] * 9))
    for name, ref in [
        (b"a", b'"lol"'),
        (b"b", b"*a"),
        (b"c", b"*b"),
        (b"d", b"*c"),
        (b"e", b"*d"),
        (b"f", b"*e"),
        (b"g", b"*f"),
    ]
)
TAG_NOT_ALLOWED = "is not allowed (only plain strings, numbers, booleans, null, mappings and lists)"

CASES = [
    pytest.param(
        b"a: " + b"x" * (1 << 20) + b"\n",
        (1, 1, "", "file is 1048580 bytes, more than the limit of 1048576"),
        id="oversize",
    ),
    pytest.param(
        LAUGHS,
        (7, 8, "", "aliases expand to more than 10000 nodes (an alias bomb?)"),
        id="billion-laughs",
    ),
    pytest.param(
        HEAD + b"b: &b [1]\n" + b"".join(b"c%d: *b\n" % i for i in range(70)),
        (68, 6, "", "more than 64 aliases in one document"),
        id="many-aliases",
    ),
    pytest.param(
        HEAD + b"metadata:\n  name: caf\xe9\n",
        (4, 12, "", "not UTF-8: invalid byte 0xe9 at offset 66"),
        id="non-utf8",
    ),
    pytest.param(
        HEAD + b"metadata:\n  name: x\nspec:\n  image: !!python/object/apply:os.system [id]\n",
        (6, 10, "spec.image", f"tag !!python/object/apply:os.system {TAG_NOT_ALLOWED}"),
        id="python-tag",
    ),
    pytest.param(
        HEAD + b"metadata:\n  name: x\nspec:\n  image: !secret registry/img\n",
        (6, 10, "spec.image", f"tag !secret {TAG_NOT_ALLOWED}"),
        id="custom-tag",
    ),
    pytest.param(
        HEAD + b"spec:\n  env: " + b"[" * 70 + b"]" * 70 + b"\n",
        (4, 70, "", "nesting is deeper than 64 levels"),
        id="deep-nesting",
    ),
    pytest.param(
        b"- apiVersion: mlops/v1alpha1\n- kind: TrainingJob\n",
        (1, 1, "", "document is a list, expected a mapping"),
        id="list-document",
    ),
    pytest.param(
        b"---\njust some text\n",
        (2, 1, "", "document is a scalar, expected a mapping"),
        id="scalar-document",
    ),
    pytest.param(
        HEAD + b"metadata:\n  name: x\nspec:\n  image: a\n  image: b\n",
        (7, 3, "spec.image", "duplicate key (first at line 6)"),
        id="duplicate-key",
    ),
    pytest.param(
        HEAD + b"metadata: [\n",
        (4, 1, "", "invalid YAML: did not find expected node content"),
        id="syntax-error",
    ),
    pytest.param(
        HEAD + b"metadata:\n  name: a\x01b\n",
        (4, 10, "", "invalid YAML: control characters are not allowed"),
        id="control-character",
    ),
    pytest.param(
        HEAD + b"spec: *nowhere\n",
        (3, 7, "", "alias *nowhere names no anchor defined before it"),
        id="undefined-alias",
    ),
]


@pytest.mark.parametrize(("content", "expected"), CASES)
def test_hostile_file_is_one_problem_and_the_rest_loads(
    write_repo: Writer, content: bytes, expected: tuple[int, int, str, str]
) -> None:
    root = write_repo({"bad.yaml": content, "good.yaml": TRAINING})

    result = load_directory(root)

    assert result.problems == (SpecProblem("bad.yaml", *expected),)
    assert result.failed_files == {"bad.yaml"}
    assert [loaded.key for loaded in result.specs] == [
        SpecKey("TrainingJob", "default", "churn-train")
    ]


def test_a_document_problem_keeps_the_spec_named_as_invalid(write_repo: Writer) -> None:
    root = write_repo({"bad.yaml": HEAD + b"metadata:\n  name: x\nspec:\n  image: !foo a\n"})

    result = load_directory(root)

    assert list(result.invalid) == [SpecKey("TrainingJob", "default", "x")]


def test_merge_keys_are_honoured_and_located(write_repo: Writer) -> None:
    root = write_repo(
        {
            "a.yaml": (
                "apiVersion: mlops/v1alpha1\n"
                "kind: TrainingJob\n"
                "metadata: {name: t}\n"
                "spec:\n"
                "  <<: &defaults\n"
                "    image: train:1\n"
                "    workers: 0\n"
            )
        }
    )

    result = load_directory(root)

    assert result.problems == (
        SpecProblem("a.yaml", 7, 5, "spec.workers", "Input should be greater than or equal to 1"),
    )


def test_foreign_yaml_with_its_own_tags_is_skipped(write_repo: Writer) -> None:
    root = write_repo(
        {
            "cloudformation.yaml": "Resources:\n  Bucket:\n    Name: !Ref BucketName\n",
            "good.yaml": TRAINING,
        }
    )

    result = load_directory(root)

    assert result.problems == ()
    assert len(result.specs) == 1
