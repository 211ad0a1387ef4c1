"""The canary tests of this folder run on the real control plane only, with the real
Prometheus and exporter of tests/delivery/conftest.py."""

from __future__ import annotations

from tests.realcluster.conftest import cluster, loop

__all__ = ["cluster", "loop"]
