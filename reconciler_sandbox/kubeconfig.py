"""Kubeconfig files and Python API clients for a sandbox (HTTPS on loopback, bearer token)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

NAME = "reconciler-sandbox"


def document(
    url: str, token: str, ca: Path | None = None, namespace: str = "default"
) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": url}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": {"token": token}}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}
        ],
        "current-context": NAME,
        "preferences": {},
    }


def write(path: Path, url: str, token: str, ca: Path | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The token grants full access to the sandbox: keep the file private to its owner.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document(url, token, ca), handle, sort_keys=False)


def api_client(url: str, token: str, ca: Path | None = None) -> Any:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    if ca is not None:
        configuration.ssl_ca_cert = str(ca)
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)
