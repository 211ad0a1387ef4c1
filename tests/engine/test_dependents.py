"""Which serving specs a training spec's runs wake: kept up to date from the changed specs only."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired import sources_of
from reconciler.engine.load import _follow_dependents
from reconciler.specs.loaded import SpecKey
from reconciler.specs.loader import load_directory
from tests.specs.conftest import TRAINING
from tests.specs.test_loader import SERVING


def _serving(name: str, source: str) -> str:
    return SERVING.replace("name: churn\n", f"name: {name}\n").replace(
        "name: churn-train\n", f"name: {source}\n"
    )


BEFORE = {
    "train-a.yaml": TRAINING.replace("churn-train", "train-a"),
    "train-b.yaml": TRAINING.replace("churn-train", "train-b"),
    "one.yaml": _serving("one", "train-a"),
    "two.yaml": _serving("two", "train-a"),
}
EDITS = {
    "a serving spec moves to another source": {"one.yaml": _serving("one", "train-b")},
    "the last serving spec of a source moves": {
        "one.yaml": _serving("one", "train-b"),
        "two.yaml": _serving("two", "train-b"),
    },
    "a serving spec removed": {"two.yaml": None},
    "a serving spec added": {"three.yaml": _serving("three", "train-b")},
    "a training spec removed": {"train-a.yaml": None},
    "nothing a serving spec names": {"train-b.yaml": TRAINING.replace("churn-train", "train-b")},
}


def _specs(root: Path, files: dict[str, str | None]):
    root.mkdir()
    for name, content in files.items():
        if content is not None:
            (root / name).write_text(content)
    return {loaded.key: loaded for loaded in load_directory(root).specs}


def _recomputed(specs) -> dict[SpecKey, set[SpecKey]]:
    found: dict[SpecKey, set[SpecKey]] = {}
    for loaded in specs.values():
        for source in sources_of(loaded):
            found.setdefault(source, set()).add(loaded.key)
    return found


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_following_the_changed_specs_equals_recomputing(tmp_path: Path, edit) -> None:
    old = _specs(tmp_path / "before", BEFORE)
    new = _specs(tmp_path / "after", {**BEFORE, **edit})
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    dependents = _recomputed(old)

    _follow_dependents(dependents, old, new, changed)

    assert dependents == _recomputed(new)
