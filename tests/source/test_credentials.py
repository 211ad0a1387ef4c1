"""Credentials: built from files, never shown, and a rejected token does not loop forever."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import SourceError
from reconciler.source.credentials import MAX_CREDENTIAL_ATTEMPTS, Credentials
from reconciler.source.git import GitSource

TOKEN = "tok_9f8e7d6c5b4a"


def test_token_from_file_reads_the_first_line(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    creds = Credentials.from_files(token_file=token_file)
    assert creds.token == TOKEN
    assert creds.username == "x-access-token"
    assert creds.secrets() == (TOKEN,)
    assert TOKEN not in repr(creds)
    assert TOKEN not in str(creds)


def test_ssh_key_from_file(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("pass-phrase-1")
    creds = Credentials.from_files(ssh_key_file=key, passphrase_file=passphrase)
    assert creds.ssh_private_key == key
    assert creds.username == "git"
    assert "pass-phrase-1" not in repr(creds)
    assert isinstance(creds.callbacks(), pygit2.RemoteCallbacks)


def test_missing_or_empty_files_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read token file"):
        Credentials.from_files(token_file=tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SourceError, match="is empty"):
        Credentials.from_files(token_file=tmp_path / "empty")
    with pytest.raises(SourceError, match="does not exist"):
        Credentials.from_files(ssh_key_file=tmp_path / "absent-key")
    with pytest.raises(SourceError, match="exactly one"):
        Credentials.from_files()


def test_exactly_one_kind_of_secret() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Credentials(token="a", ssh_private_key=Path("k"))
    with pytest.raises(ValueError, match="exactly one"):
        Credentials()


class _AlwaysUnauthorized(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def unauthorized_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysUnauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/org/repo.git"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_rejected_token_fails_once_and_is_scrubbed(
    unauthorized_server: str, tmp_path: Path
) -> None:
    source = GitSource(
        unauthorized_server, "main", tmp_path / "cache", Credentials.https_token(TOKEN)
    )
    with pytest.raises(SourceError, match="authentication failed") as caught:
        source.fetch()
    assert TOKEN not in str(caught.value)
    assert _AlwaysUnauthorized.requests <= MAX_CREDENTIAL_ATTEMPTS + 2
