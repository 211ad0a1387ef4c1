"""A throwaway TLS certificate per sandbox.

kubectl (client-go) only sends a bearer token over TLS, so the sandbox serves HTTPS with a fresh
self-signed certificate for 127.0.0.1 and localhost; the kubeconfig embeds it as the cluster's
certificate authority, so clients verify the server instead of skipping verification.
The certificate is made with the ``openssl`` command, which every supported system has.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path


class TlsUnavailable(RuntimeError):
    pass


def make_certificate(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsUnavailable("the openssl command is needed to make the sandbox's certificate")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=reconciler-sandbox",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
