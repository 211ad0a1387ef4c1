"""The Prometheus HTTP API as a metrics provider: ``GET /api/v1/query`` with a timeout.

A query must evaluate to one number: a scalar or a vector of exactly one sample (aggregate
with ``sum``/``avg`` otherwise). No sample, NaN, several samples, an error status or an
unreachable server raise MetricsError, never with the bearer token or the server's body in it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import urllib3

from reconciler.delivery.provider import MetricsError
from reconciler.errors import ConfigError
from reconciler.source.git import scrub

# Seconds to connect and to read an answer: a check waits at most this long per metric, and a
# reconcile with checks due waits on it, so it stays well below any sensible interval.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
_ERROR_TEXT = 200  # characters of Prometheus' own error message kept


def load_token(path: Path) -> str:
    """A bearer token from a file (a mounted Secret); surrounding whitespace is not part of it."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read Prometheus token file {path}: {reason}") from None
    if not token:
        raise ConfigError(f"Prometheus token file {path} is empty")
    return token


class Prometheus:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        self._token = token or ""
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            retries=False,
        )

    def query(self, query: str) -> float:
        try:
            response = self._pool.request(
                "GET", f"{self.url}/api/v1/query", fields={"query": query}, headers=self._headers
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # urllib3 puts the URL in its messages: only the error's type is kept.
            raise MetricsError(f"Prometheus unreachable ({type(exc).__name__})") from None
        try:
            return _value(response.status, response.data)
        except MetricsError as exc:
            # A proxy in front of Prometheus may quote the token it refused in its error.
            raise MetricsError(scrub(str(exc), (self._token,))) from None

    def close(self) -> None:
        self._pool.clear()


def _value(status: int, body: bytes) -> float:
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise MetricsError(f"Prometheus answered HTTP {status} without a JSON body")
    if answer.get("status") != "success":
        error = str(answer.get("error") or "")[:_ERROR_TEXT]
        raise MetricsError(f"Prometheus answered HTTP {status}: {error or 'an error'}")
    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        sample = result
    elif kind == "vector" and isinstance(result, list):
        if not result:
            raise MetricsError("no data")
        if len(result) > 1:
            raise MetricsError(f"{len(result)} series, not one: aggregate the query")
        sample = result[0].get("value")
    else:
        raise MetricsError(f"a {kind} result, not a number")
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError):
        raise MetricsError("a sample that is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise MetricsError(f"no data (the query gave {value})")
    return value
