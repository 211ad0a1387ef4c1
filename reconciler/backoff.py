"""Exponential backoff: how long a retry loop waits after consecutive failures.

One formula for every loop that retries on its own clock (the worker after a failed reconcile,
a failing fetch, the start-up connection, a broken watch). Each loop waits on its own stop event,
so a shutdown never sits out a delay; that is why this is a function and not a retrying wrapper.
"""

from __future__ import annotations

import random


def delay(failures: int, base: float, cap: float, jitter: bool = True) -> float:
    """Seconds to wait after ``failures`` (>= 1) failures in a row: base, 2 base, 4 base ... cap.

    With ``jitter`` the wait is drawn from its upper half, so replicas that failed together do not
    retry together.
    """
    wait = min(cap, base * 2.0 ** max(0, failures - 1))
    return wait * random.uniform(0.5, 1.0) if jitter else wait
