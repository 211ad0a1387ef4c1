"""Progress of long work, for a person at a terminal: objects applied and pruned, and the rate.

Read from the counter the engine already keeps (``reconciler_api_writes_total``), so the loop
knows nothing of it. While the count grows, a line at most every ``interval`` seconds; when the
block ends, one line of totals. Only when the stream is a terminal: piped or collected, stderr
holds the structured log and nothing else.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from reconciler.metrics import Metrics

_WRITES = "reconciler_api_writes_total"


class Progress:
    def __init__(
        self, metrics: Metrics, stream: TextIO | None = None, interval: float = 1.0
    ) -> None:
        self._metrics = metrics
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._began = time.monotonic()
        self._start_counts = (0, 0)

    def __enter__(self) -> Progress:
        if self._stream.isatty():
            self._began = time.monotonic()
            self._start_counts = self._counts()
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        applied, pruned = self._done()
        if applied or pruned:
            took = time.monotonic() - self._began
            rate = (applied + pruned) / took if took > 0 else 0.0
            self._say(f"{self._words(applied, pruned)} in {took:.1f}s ({rate:.0f}/s)")

    def _run(self) -> None:
        # From the entry, not from when this thread first runs: work done in between counts.
        last, last_at = (0, 0), self._began
        while not self._stop.wait(self._interval):
            now, now_at = self._done(), time.monotonic()
            if now == last:
                continue
            rate = (sum(now) - sum(last)) / (now_at - last_at)
            self._say(f"{self._words(*now)}, {rate:.0f}/s")
            last, last_at = now, now_at

    def _counts(self) -> tuple[int, int]:
        def total(verb: str) -> int:
            value = self._metrics.registry.get_sample_value(_WRITES, {"verb": verb, "result": "ok"})
            return int(value or 0)

        return total("apply"), total("delete")

    def _done(self) -> tuple[int, int]:
        applied, pruned = self._counts()
        return applied - self._start_counts[0], pruned - self._start_counts[1]

    @staticmethod
    def _words(applied: int, pruned: int) -> str:
        return f"{applied} objects applied, {pruned} pruned"

    def _say(self, line: str) -> None:
        self._stream.write(f"progress: {line}\n")
        self._stream.flush()
