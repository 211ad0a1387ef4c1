"""The one exception family of reconciler.

    ReconcilerError
     ├── SpecError            a spec could not be loaded; carries one SpecProblem (file:line:col)
     ├── RenderError          a valid spec could not become manifests (e.g. unresolved model)
     ├── SourceError          Git fetch, clone, read or push failed (credentials scrubbed)
     │    └── PushRejected    the remote moved under us; re-fetch and retry, never force
     ├── ApiError             the Kubernetes API answered with an error Status
     │    ├── TransientApiError   409 conflict, 429, 5xx, dropped connection: retry with backoff
     │    └── PermanentApiError   400, 401, 403, 404, 422 ...: retrying will not help
     ├── NotServed            the cluster does not serve a kind (its CRD is not installed)
     ├── QuantityError        not a Kubernetes quantity (reconciler.quantity)
     └── ConfigError          settings or flags are unusable (exit code 2)

API errors are chosen from the HTTP status at one boundary (reconciler.cluster.client), a watch's
ERROR event included, and chained with ``from``; their messages are truncated and never include
request bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import kinds


@dataclass(frozen=True, order=True)
class SpecProblem:
    """One thing wrong with one spec document, located precisely enough to fix it."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        field = self.field or "(document)"
        return f"{self.file}:{self.line}:{self.column}: {field}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class ReconcilerError(Exception):
    """Root of every error reconciler raises on purpose."""


class SpecError(ReconcilerError):
    def __init__(self, problem: SpecProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class RenderError(ReconcilerError):
    pass


class SourceError(ReconcilerError):
    pass


class PushRejected(SourceError):
    pass


class ConfigError(ReconcilerError):
    pass


MAX_API_MESSAGE = 300


class ApiError(ReconcilerError):
    """An error Status from the API server; ``reason`` is the Status reason (NotFound, ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        if len(message) > MAX_API_MESSAGE:
            message = message[:MAX_API_MESSAGE] + "..."
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class TransientApiError(ApiError):
    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status, reason, message)
        self.retry_after = retry_after


class PermanentApiError(ApiError):
    pass


class NotServed(ReconcilerError):
    """The cluster does not serve this kind (its CRD is not installed)."""

    def __init__(self, api_version: str, kind: str) -> None:
        group = api_version.split("/")[0] if "/" in api_version else ""
        project = kinds.installed_by().get(group)
        prefix = f"{project} is not installed: " if project else ""
        super().__init__(f"{prefix}{kind} ({api_version}) not served by this cluster")
