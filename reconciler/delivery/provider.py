"""Where analysis metrics come from: one small interface, so another backend is one module.

A provider answers one query with one number. Everything else (no series, several series, a
value that is not a number, an error, a timeout) is a ``MetricsError`` whose message says why
without secrets; the analysis records it as an inconclusive check.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.errors import ReconcilerError


class MetricsError(ReconcilerError):
    """A query gave no usable number: no data, or the backend failed or timed out."""


class MetricsProvider(Protocol):
    def query(self, query: str) -> float:
        """The single value ``query`` evaluates to now; raises MetricsError otherwise."""
        ...
