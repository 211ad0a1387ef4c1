"""Raw HTTP against a sandbox, for what the official client cannot express."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any

from reconciler_sandbox.core import Sandbox


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def warnings(self) -> list[str]:
        return self.headers.get_all("Warning") or []


def connect(sandbox: Sandbox) -> http.client.HTTPConnection:
    if sandbox.ca_path is None:
        return http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    return http.client.HTTPSConnection("127.0.0.1", sandbox.port, timeout=10, context=context)


def request(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    token: str | None = "default",
    headers: dict[str, str] | None = None,
) -> Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {sandbox.token if token == 'default' else token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent["Content-Type"] = content_type
    conn = connect(sandbox)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def raw_watch(sandbox: Sandbox, path: str) -> list[dict]:
    conn = connect(sandbox)
    conn.request("GET", path, headers={"Authorization": f"Bearer {sandbox.token}"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    conn.close()
    return lines
