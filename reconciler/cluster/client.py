"""The one boundary between reconciler and the Kubernetes API.

Requests go through the official ``kubernetes`` client's ApiClient (its kubeconfig, auth and
connection pool), but bodies are read as plain JSON dicts: the loop works on manifests, not on
generated model classes. Every failure becomes an ``ApiError`` here, chosen from the HTTP status,
so nothing above this module sees urllib3 or ``ApiException``.

With a ServiceAccount to impersonate (``Connection.service_account``, Flux's
``serviceAccountName``), every request (reads, watches and writes alike) carries
``Impersonate-User: system:serviceaccount:NAMESPACE:NAME``, so the cluster authorizes it as that
account. No ``Impersonate-Group`` is sent on purpose: for a service-account user the API server
adds its groups itself (``system:serviceaccounts``, ``system:serviceaccounts:NAMESPACE``,
``system:authenticated``), and naming groups would need ``impersonate`` on ``groups`` too, where
this needs it only on that one ServiceAccount.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from reconciler.errors import ApiError, ConfigError, PermanentApiError, TransientApiError

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"

# 409 is retried only when the server says the object changed under us; AlreadyExists and
# FieldManagerConflict will not resolve themselves.
TRANSIENT_REASONS = frozenset({"Conflict", "ServerTimeout", "Timeout", "TooManyRequests"})
TRANSIENT_CODES = frozenset({429, 500, 502, 503, 504})
IMPERSONATE_USER = "Impersonate-User"
# Idle connections the pool keeps for reuse: one per apply in flight at the most
# (--apply-concurrency goes up to 64) plus one per open watch. urllib3 closes a connection that
# comes back to a full pool, so the next request pays a new TLS handshake; the kubernetes
# client's own default is 5 per core, fewer than the applies in flight on a small machine.
POOL_SIZE = 96


@dataclass(frozen=True)
class Connection:
    """Where the API is: built once at the entry point from kubeconfig or in-cluster config."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    service_account: str | None = None  # NAMESPACE/NAME to impersonate in every request


def api_client_for(connection: Connection) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.connection_pool_maxsize = POOL_SIZE
    try:
        if connection.in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
            return k8s.ApiClient(configuration)
        return k8s_config.new_client_from_config(
            config_file=connection.kubeconfig,
            context=connection.context,
            client_configuration=configuration,
        )
    except (k8s_config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = connection.kubeconfig or "the default kubeconfig"
        raise ConfigError(f"cannot load Kubernetes configuration from {where}: {exc}") from exc


def impersonation_headers(service_account: str | None) -> dict[str, str]:
    """The headers that make a request act as ``NAMESPACE/NAME``; none without one."""
    if service_account is None:
        return {}
    namespace, name = service_account.split("/", 1)
    return {IMPERSONATE_USER: f"system:serviceaccount:{namespace}:{name}"}


def error_from_response(status: int, body: bytes, retry_after: str | None) -> ApiError:
    """Choose the exception class from a non-2xx answer; only the Status message is kept."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    return error_from_status(
        status,
        payload if isinstance(payload, dict) else {},
        retry_after,
        default_message=body[:200].decode("utf-8", "replace"),
    )


def error_from_status(
    status: int,
    payload: Mapping[str, Any],
    retry_after: str | None = None,
    default_message: str = "",
) -> ApiError:
    """Choose the exception class from a Status object: an answer's body or a watch's ERROR."""
    reason = str(payload.get("reason") or "Unknown")
    message = str(payload.get("message") or default_message)
    if status in TRANSIENT_CODES or (status == 409 and reason in TRANSIENT_REASONS):
        delay: float | None = None
        if retry_after:
            try:
                delay = max(0.0, float(retry_after))
            except ValueError:
                delay = None
        return TransientApiError(status, reason, message, retry_after=delay)
    return PermanentApiError(status, reason, message)


def _unanswered(exc: BaseException) -> str:
    """Why a request got no answer (``MaxRetryError: Connection refused``), naming no URL.

    urllib3 puts the request URL in its messages; only the error types and the operating
    system's reason at the root of the chain are kept.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return f"{type(exc).__name__}: {seen.strerror}"
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else seen.__cause__ or seen.__context__
    return type(exc).__name__


class KubeClient:
    """Plain-JSON requests against the API server, with one error vocabulary."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        request_timeout: float = 30.0,
        service_account: str | None = None,
        on_error: Callable[[ApiError], None] = lambda error: None,
    ) -> None:
        self._api = api_client
        self._timeout = request_timeout
        self._impersonation = impersonation_headers(service_account)
        self._on_error = on_error  # told of every error answer or failed request, e.g. to count

    @classmethod
    def connect(
        cls, connection: Connection, on_error: Callable[[ApiError], None] = lambda error: None
    ) -> KubeClient:
        return cls(
            api_client_for(connection),
            service_account=connection.service_account,
            on_error=on_error,
        )

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    def close(self) -> None:
        self._api.close()

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | tuple[float, float] | None,
        accept: str = "application/json",
    ) -> Any:
        headers = {"Accept": accept, **self._impersonation}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        url_path = path + ("?" + urlencode(query, doseq=True) if query else "")
        _, url, headers, _, _ = self._api.param_serialize(
            method, url_path, header_params=headers, auth_settings=["BearerToken"]
        )
        try:
            return self._api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except (urllib3.exceptions.HTTPError, OSError, k8s.ApiException) as exc:
            raise TransientApiError(0, "ConnectionError", _unanswered(exc)) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One request; ``accept`` may ask for another representation (metadata only)."""
        try:
            return self._request(method, path, query, body, content_type, accept)
        except ApiError as exc:
            self._on_error(exc)
            raise

    def _request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        accept: str,
    ) -> dict[str, Any]:
        response = self._send(method, path, query, body, content_type, self._timeout, accept)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientApiError(0, "ConnectionError", type(exc).__name__) from exc
        if response.status >= 400:
            raise error_from_response(response.status, data, response.getheader("Retry-After"))
        if not data:
            return {}
        return json.loads(data)

    def stream(
        self, path: str, query: Mapping[str, Any], read_timeout: float
    ) -> Iterator[dict[str, Any]]:
        """Newline-delimited watch events until the server ends the stream."""
        try:
            yield from self._stream(path, query, read_timeout)
        except ApiError as exc:
            self._on_error(exc)
            raise

    def _stream(
        self, path: str, query: Mapping[str, Any], read_timeout: float
    ) -> Iterator[dict[str, Any]]:
        response = self._send("GET", path, query, None, None, (10.0, read_timeout))
        raw = response.response
        try:
            if response.status >= 400:
                raise error_from_response(
                    response.status, raw.read(), response.getheader("Retry-After")
                )
            buffer = b""
            for chunk in raw.stream(amt=65536, decode_content=True):
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientApiError(0, "ConnectionError", type(exc).__name__) from exc
        finally:
            raw.release_conn()
