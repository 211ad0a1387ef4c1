"""Credentials: built from files, never shown, and a rejected token does not loop forever."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pygit2
import pytest
from pygit2.enums import CredentialType, Option
from structlog.testing import capture_logs

from reconciler.config import load_settings
from reconciler.errors import ConfigError, SourceError
from reconciler.source.credentials import MAX_CREDENTIAL_ATTEMPTS, Credentials, GitCallbacks
from reconciler.source.git import GitSource, scrub, split_credentials
from reconciler.status.writer import StatusWriter
from tests.source.remotes import Remote
from tests.source.smart_http import smart_http
from tests.waiting import wait_for

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


# --- a token in the remote URL -------------------------------------------------------------

SPECIAL = "Zq7p@Xk9s:Vb3w/Rt5d%Ux"  # every character that needs care in a URL's user information


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("https://u:plain@h/r.git", (), "https://***@h/r.git"),
        ("https://u:p@ss@h/r.git", (), "https://***@h/r.git"),
        ("https://u:p@ss:word@h:8443/r.git", (), "https://***@h:8443/r.git"),
        ("https://u:p%40ss%3Aw%2Frd@h/r.git", (), "https://***@h/r.git"),
        ("https://tokenasuser@h/r.git", (), "https://***@h/r.git"),
        ("ssh://git@h/r.git", (), "ssh://***@h/r.git"),
        ("https://h/r.git?q=a@b", (), "https://h/r.git?q=a@b"),  # no user information
        ("git@h:org/r.git", (), "git@h:org/r.git"),  # scp-like: a user name, never a secret
        ("a https://u:x@y@h/1 and http://v:z@h/2.", (), "a https://***@h/1 and http://***@h/2."),
        (f"auth failed for {SPECIAL}", (SPECIAL,), "auth failed for ***"),
    ],
)
def test_scrub_table(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert scrub(text, secrets) == expected


@pytest.mark.parametrize(
    "userinfo", ["user:Zq7p@Xk9s@Vb3w", "user:Zq7p@Xk9s:Vb3w", "user:" + quote(SPECIAL, safe="")]
)
def test_password_with_special_characters_never_reaches_errors_or_logs(
    userinfo: str, tmp_path: Path
) -> None:
    password = unquote(userinfo.partition(":")[2])
    url = f"https://{userinfo}@127.0.0.1:{_closed_port()}/org/repo.git"
    with capture_logs() as logs, pytest.raises(SourceError) as caught:
        GitSource(url, "main", tmp_path / "cache").fetch()
    message = str(caught.value)
    assert "127.0.0.1" in message
    for leak in {password, userinfo.partition(":")[2], *re.split(r"[@:/%]", password)}:
        assert leak not in message
        assert leak not in repr(logs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files_holding(root: Path, needles: set[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def test_token_in_the_url_is_used_but_never_stored_in_the_cache(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "hosted")
    tip = remote.commit({"a.yaml": "a: 1\n"})
    token = "tok_" + SPECIAL
    cache = tmp_path / "cache"
    with smart_http(remote.bare.parent, "robot", token) as base:
        url = f"{base.replace('://', '://robot:' + quote(token, safe='') + '@')}/remote.git"
        source = GitSource(url, "main", cache)
        assert str(source.fetch()) == tip  # the server demands the token: it was sent
        writer = StatusWriter(source.repo, url, "status")
        writer.read()
        assert writer.write({"x.yaml": b"phase: Ready\n"}, "status") is not None
    assert source.url.startswith("http://127.0.0.1:")
    assert "robot" not in source.url
    assert _files_holding(cache, {token, quote(token, safe=""), "tok_"}) == []
    assert (cache / "FETCH_HEAD").exists()  # the file that used to carry the URL was checked
    assert token not in repr(source.credentials)


def test_a_cache_that_stored_a_token_is_replaced(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "origin")
    remote.commit({"a.yaml": "a: 1\n"})
    cache = tmp_path / "cache"
    url = f"https://robot:{TOKEN}@127.0.0.1:{_closed_port()}/org/repo.git"
    old = pygit2.init_repository(str(cache), bare=True)
    old.remotes.create("origin", url)  # what caches written before looked like
    source = GitSource(url, "main", cache)
    assert source.repo.remotes["origin"].url == url.replace(f"robot:{TOKEN}@", "")
    assert _files_holding(cache, {TOKEN}) == []


def test_explicit_credentials_win_over_the_url(tmp_path: Path) -> None:
    explicit = Credentials.https_token(TOKEN)
    source = GitSource("https://u:other@h.example/r.git", "main", tmp_path / "c", explicit)
    assert source.credentials is explicit
    assert source.url == "https://h.example/r.git"


def test_ssh_url_keeps_its_user_name(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k")
    creds = Credentials.ssh_key(key)
    url, kept = split_credentials("ssh://git:pw@h.example:2222/r.git", creds)
    assert (url, kept) == ("ssh://git@h.example:2222/r.git", creds)
    assert split_credentials("git@h.example:r.git", None) == ("git@h.example:r.git", None)


# --- an SSH key with a passphrase -----------------------------------------------------------

PASSPHRASE = " correct horse: battery staple "  # spaces at both ends are part of it


@pytest.fixture
def protected_key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "test", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def test_passphrase_file_builds_the_keypair_that_opens_the_key(
    protected_key: Path, tmp_path: Path
) -> None:
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    public = protected_key.with_name("id_ed25519.pub")
    with capture_logs() as logs:
        creds = Credentials.from_files(
            ssh_key_file=protected_key,
            ssh_public_key_file=public,
            passphrase_file=passphrase_file,
        )
        keypair = creds.callbacks().credentials(
            "ssh://h.example/r.git", "git", CredentialType.SSH_KEY
        )
    assert isinstance(keypair, pygit2.Keypair)
    assert keypair.credential_tuple == ("git", public, protected_key, PASSPHRASE)
    # The passphrase as read really opens the key (ssh-keygen prints the public half).
    opened = subprocess.run(
        ["ssh-keygen", "-y", "-P", creds.ssh_passphrase or "", "-f", str(protected_key)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split()[:2] == public.read_text().split()[:2]
    assert PASSPHRASE not in repr(creds)
    assert PASSPHRASE.strip() not in repr(logs)
    assert creds.secrets() == (PASSPHRASE,)


def test_passphrase_setting_from_flag_environment_or_file(tmp_path: Path) -> None:
    key, phrase = tmp_path / "key", tmp_path / "phrase"
    base = {"repo": "https://h.example/r.git", "ssh_key_file": str(key)}
    from_flag = load_settings({**base, "ssh_key_passphrase_file": str(phrase)}, {})
    from_env = load_settings(base, {"RECONCILER_SSH_KEY_PASSPHRASE_FILE": str(phrase)})
    config = tmp_path / "settings.yaml"
    config.write_text(f"sshKeyPassphraseFile: {phrase}\n")
    from_config = load_settings(base, {}, str(config))
    for settings in (from_flag, from_env, from_config):
        assert settings.source.ssh_key_passphrase_file == phrase
    with pytest.raises(ConfigError, match="needs --ssh-key-file"):
        load_settings({"repo": "r", "ssh_key_passphrase_file": str(phrase)}, {})


def test_progress_after_the_deadline_ends_the_operation() -> None:
    # A server trickling data never trips libgit2's per-read timeout; the deadline still holds.
    callbacks = GitCallbacks(None, timeout=0.2)
    callbacks.sideband_progress("Counting objects")  # within the deadline: goes on

    def ended() -> str | None:
        try:
            callbacks.transfer_progress(None)  # type: ignore[arg-type]
        except SourceError as exc:
            return str(exc)
        return None

    assert wait_for(ended, timeout=5, what="the deadline") == "timed out after 0.2s"
    with pytest.raises(SourceError, match="timed out"):
        callbacks.push_transfer_progress(1, 2, 3)
    assert pygit2.option(Option.GET_SERVER_TIMEOUT) == 200
    assert pygit2.option(Option.GET_SERVER_CONNECT_TIMEOUT) == 200
