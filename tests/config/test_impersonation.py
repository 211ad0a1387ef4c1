"""--service-account makes every API request act as that ServiceAccount (Flux's
serviceAccountName), so the cluster's RBAC for it bounds what a repository can change.

The sandbox authorizes nothing and keeps no request headers, so a small HTTP server on loopback
stands in for the API server here and records the headers of every request it receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from reconciler.cluster.client import Connection, KubeClient
from reconciler.config import OPTIONS, load_settings
from reconciler.service import Service
from tests.source.remotes import Remote

USER = "system:serviceaccount:team-a:deployer"


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, list[str]]]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        self.server.seen.append((self.command, self.path, headers))  # type: ignore[attr-defined]
        if "watch=true" in self.path:
            body = json.dumps({"type": "BOOKMARK", "object": {}}).encode() + b"\n"
        else:
            body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = do_DELETE = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    host = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": host}}],
                "users": [{"name": "u", "user": {"token": "reconciler-own-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    try:
        yield server, kubeconfig
    finally:
        server.shutdown()
        server.server_close()


def requests(server: ThreadingHTTPServer) -> list[tuple[str, str, dict[str, list[str]]]]:
    return list(server.seen)  # type: ignore[attr-defined]


def exercise(client: KubeClient) -> None:
    """A read, a watch and a write: each kind of call the reconciler makes."""
    client.request("GET", "/apis/apps/v1/deployments")
    list(client.stream("/apis/apps/v1/deployments", {"watch": "true"}, read_timeout=5))
    client.request(
        "PATCH",
        "/apis/apps/v1/namespaces/ml/deployments/web",
        query={"fieldManager": "reconciler", "force": "true"},
        body={"apiVersion": "apps/v1", "kind": "Deployment"},
        content_type="application/apply-patch+yaml",
    )
    client.request("DELETE", "/apis/apps/v1/namespaces/ml/deployments/old")


def test_every_request_impersonates_the_service_account(api) -> None:
    server, kubeconfig = api
    client = KubeClient.connect(
        Connection(kubeconfig=str(kubeconfig), service_account="team-a/deployer")
    )
    try:
        exercise(client)
    finally:
        client.close()

    seen = requests(server)
    assert [method for method, _, _ in seen] == ["GET", "GET", "PATCH", "DELETE"]
    for _, _, headers in seen:
        assert headers["impersonate-user"] == [USER]
        # The API server adds the account's groups itself; naming them would need impersonate
        # on groups as well.
        assert "impersonate-group" not in headers
        assert headers["authorization"] == ["Bearer reconciler-own-token"]


def test_without_a_service_account_nothing_is_impersonated(api) -> None:
    server, kubeconfig = api
    client = KubeClient.connect(Connection(kubeconfig=str(kubeconfig)))
    try:
        exercise(client)
    finally:
        client.close()

    assert all("impersonate-user" not in headers for _, _, headers in requests(server))


def test_the_service_wires_the_setting_into_its_clients(api, tmp_path: Path) -> None:
    server, kubeconfig = api
    remote = Remote(tmp_path / "git")
    remote.commit({"README.md": "specs\n"})
    given = {option.name: None for option in OPTIONS}
    given.update(
        repo=str(remote.bare),
        kubeconfig=str(kubeconfig),
        cache_dir=str(tmp_path / "cache"),
        service_account="team-a/deployer",
        leader_elect=True,
    )
    service = Service.open(load_settings(given, {}))
    try:
        service.client.request("GET", "/api")
        assert service.elector is not None
        service.elector.client.request("GET", "/apis/coordination.k8s.io/v1")
    finally:
        service.stop()

    seen = requests(server)
    assert {path for _, path, _ in seen} >= {"/api", "/apis/coordination.k8s.io/v1"}
    assert all(headers.get("impersonate-user") == [USER] for _, _, headers in seen)
