"""The sweep tests of this folder run on the real control plane only."""

from __future__ import annotations

from tests.realcluster.conftest import cluster, loop

__all__ = ["cluster", "loop"]
