"""Small spec repositories written into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

TRAINING = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata:
  name: churn-train
spec:
  image: registry.example.com/train:1
"""

Writer = Callable[[Mapping[str, str | bytes]], Path]


@pytest.fixture
def write_repo(tmp_path: Path) -> Writer:
    """Write ``{relative path: content}`` under a fresh directory and return it."""

    def write(files: Mapping[str, str | bytes]) -> Path:
        root = tmp_path / "repo"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return root

    return write
