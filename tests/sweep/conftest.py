"""Fixtures of the sweep tests: spec repositories in tmp_path, and the loop on a cluster."""

from __future__ import annotations

from tests.loop.conftest import loop, sandbox
from tests.specs.conftest import write_repo

__all__ = ["loop", "sandbox", "write_repo"]
