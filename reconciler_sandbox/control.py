"""Request counters and injected faults: the test-facing knobs of the sandbox.

Counters are keyed ``"<verb> <resource>"`` (``get deployments``, ``patch deployments/status``,
``watch jobs``); discovery and OpenAPI requests are not counted. A fault matches requests by verb,
resource and name (``fnmatch`` patterns, ``*`` by default) and applies to the next ``count``
matching requests (all of them when ``count`` is None): it adds ``latency`` seconds, then either
answers with ``status`` (and ``Retry-After`` when ``retry_after`` is set) or drops the
connection without answering when ``drop`` is set.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any

from reconciler_sandbox import errors

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    verb: str = "*"
    resource: str = "*"
    name: str = "*"
    status: int | None = None
    retry_after: int | None = None
    latency: float = 0.0
    drop: bool = False
    count: int | None = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        aliases = {"retryAfter": "retry_after"}
        known = set(cls.__dataclass_fields__)
        fields = {aliases.get(k, k): v for k, v in data.items()}
        unknown = set(fields) - known
        if unknown:
            raise errors.bad_request(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**fields)
        if fault.status is None and not fault.drop and not fault.latency:
            raise errors.bad_request("a fault needs a status, drop or latency")
        return fault

    def matches(self, verb: str, resource: str, name: str) -> bool:
        return (
            fnmatchcase(verb, self.verb)
            and fnmatchcase(resource, self.resource)
            and fnmatchcase(name, self.name)
        )

    def error(self) -> errors.StatusError:
        assert self.status is not None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        reason = _REASONS.get(self.status, "InternalError")
        details = {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else {}
        return errors.StatusError(
            self.status, reason, f"injected fault: {reason}", details, headers
        )


class Control:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faults: list[Fault] = []

    def count(self, verb: str, resource: str) -> None:
        with self._lock:
            self._counts[f"{verb} {resource}"] += 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counters(self) -> None:
        with self._lock:
            self._counts.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take_fault(self, verb: str, resource: str, name: str) -> Fault | None:
        """The first fault matching this request, consuming one of its uses."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(verb, resource, name):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
