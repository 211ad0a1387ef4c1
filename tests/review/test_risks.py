"""Risk notes that need no spec: which image references are pinned."""

from __future__ import annotations

import pytest

from reconciler.review.risks import unpinned


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/acme/x:1.0", True),
        ("ghcr.io/acme/x@sha256:abc", True),
        ("localhost:5000/x:2", True),
        ("localhost:5000/x", False),
        ("x:latest", False),
        ("x", False),
    ],
)
def test_unpinned_images(image, pinned):
    assert (unpinned(image) is None) is pinned
