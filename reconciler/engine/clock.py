"""The engine's clock, injected: wall time for what status and runs say, monotonic for waits."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall time, UTC: condition transition times and run creation stamps."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back: backoff, deadlines, how long a reconcile took."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def rfc3339(moment: datetime) -> str:
    """Seconds precision, as condition times are written."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: datetime) -> str:
    """Microsecond precision: runs created in one reconcile still sort newest first."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
