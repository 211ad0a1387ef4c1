"""The YAML reader on its own: values, positions and limits."""

from __future__ import annotations

import pytest

from reconciler.errors import SpecProblem
from reconciler.specs import fieldpaths, yamlsafe


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: 2024-05-01", {"a": "2024-05-01"}),
        ("a: yes", {"a": True}),
        ("a: 0755", {"a": 493}),
        ("a: 1_000", {"a": 1000}),
        ("a: '12'", {"a": "12"}),
        ("a: !!str 12", {"a": "12"}),
        ("a: !!int '12'", {"a": 12}),
        ("a: ~", {"a": None}),
        ("a: 1.5", {"a": 1.5}),
        ("b: &x {c: 1}\na:\n  <<: *x\n  c: 2\n  d: 3", {"b": {"c": 1}, "a": {"c": 2, "d": 3}}),
    ],
)
def test_scalars_and_merges(text: str, value: object) -> None:
    (document,) = yamlsafe.parse(text.encode()).documents

    assert document.value == value
    assert document.problems == ()


def test_marks_point_at_keys_and_items() -> None:
    text = b"spec:\n  steps:\n    - name: a\n    - name: b\n      dependsOn: [a]\n"

    (document,) = yamlsafe.parse(text).documents

    assert document.marks[("spec", "steps", 1, "dependsOn", 0)] == (5, 19)
    assert document.marks[("spec", "steps", 1)] == (4, 7)
    assert fieldpaths.locate(document.marks, ("spec", "steps", 1, "image")) == (4, 7)


def test_aliased_fields_are_located_where_they_are_written() -> None:
    text = b"base: &b\n  image: x\nstep:\n  <<: *b\n"

    (document,) = yamlsafe.parse(text).documents

    assert document.marks[("step", "image")] == (2, 3)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "steps", 1, "dependsOn", 0), "spec.steps[1].dependsOn[0]"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        ((), ""),
    ],
)
def test_format_path(path: fieldpaths.FieldPath, text: str) -> None:
    assert fieldpaths.format_path(path) == text


def test_limits_are_parameters() -> None:
    limits = yamlsafe.Limits(max_bytes=8, max_depth=2)

    assert yamlsafe.parse(b"a: 123456789\n", "f.yaml", limits).problems == (
        SpecProblem("f.yaml", 1, 1, "", "file is 13 bytes, more than the limit of 8"),
    )
    assert yamlsafe.parse(b"a: {b: [", "f.yaml", limits).problems == (
        SpecProblem("f.yaml", 1, 8, "", "nesting is deeper than 2 levels"),
    )


def test_several_documents_keep_their_own_lines() -> None:
    parsed = yamlsafe.parse(b"a: 1\n---\n# comment\nb: 2\n...\n---\n\n- c\n")

    assert [(d.line, d.value) for d in parsed.documents] == [
        (1, {"a": 1}),
        (4, {"b": 2}),
        (8, ["c"]),
    ]
