"""Credentials and time limits for Git remotes; secrets never shown in logs or reprs.

Host verification: ``callbacks()`` answers pygit2's certificate check with the verdict libgit2
itself reached (``valid``): the system CA store for HTTPS, and ``~/.ssh/known_hosts`` for SSH
(libgit2 1.4+ reads it). pygit2's default would accept *any* SSH host key, so the callback is
always installed: an unknown or changed SSH host is refused. Add the host to known_hosts (for
example with ``ssh-keyscan``) before the first fetch.

Time limits: a server that accepts a connection and then says nothing would otherwise hold the
one worker forever. libgit2's server timeouts (connect, and every read and write on the socket)
end that; as they are process-wide options, each ``GitCallbacks`` sets them before its operation.
The progress callbacks also end an operation that is still transferring at its deadline, so a
server that trickles data cannot stretch it without bound either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType, Option

from reconciler.errors import SourceError

# libgit2 asks again after a rejected credential; without a limit a wrong token loops forever.
MAX_CREDENTIAL_ATTEMPTS = 3
DEFAULT_TIMEOUT = 60.0  # seconds; Flux's default for a Git operation


@dataclass(frozen=True)
class Credentials:
    """An HTTPS token (``token``) or an SSH key (``ssh_private_key``), not both."""

    username: str = "git"
    token: str | None = field(default=None, repr=False)
    ssh_private_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.token is None) == (self.ssh_private_key is None):
            raise ValueError("credentials need exactly one of a token or an SSH private key")

    def __repr__(self) -> str:
        if self.token is not None:
            return f"Credentials(kind='https-token', username={self.username!r}, token='***')"
        passphrase = "'***'" if self.ssh_passphrase else "None"
        return (
            f"Credentials(kind='ssh-key', username={self.username!r}, "
            f"ssh_private_key={str(self.ssh_private_key)!r}, passphrase={passphrase})"
        )

    @classmethod
    def https_token(cls, token: str, username: str = "x-access-token") -> Credentials:
        return cls(username=username, token=token)

    @classmethod
    def ssh_key(
        cls,
        private_key: Path,
        public_key: Path | None = None,
        passphrase: str | None = None,
        username: str = "git",
    ) -> Credentials:
        return cls(
            username=username,
            ssh_private_key=Path(private_key),
            ssh_public_key=Path(public_key) if public_key else None,
            ssh_passphrase=passphrase,
        )

    @classmethod
    def from_files(
        cls,
        token_file: Path | None = None,
        ssh_key_file: Path | None = None,
        ssh_public_key_file: Path | None = None,
        passphrase_file: Path | None = None,
        username: str | None = None,
    ) -> Credentials:
        """Read a token file (first line) or point at an SSH key file, as mounted Secrets are."""
        if (token_file is None) == (ssh_key_file is None):
            raise SourceError("give exactly one of a token file or an SSH key file")
        if token_file is not None:
            token = _read_secret(Path(token_file), "token")
            return cls.https_token(token, username=username or "x-access-token")
        key = Path(ssh_key_file)  # type: ignore[arg-type]
        if not key.is_file():
            raise SourceError(f"SSH key file {key} does not exist")
        passphrase = _read_passphrase(Path(passphrase_file)) if passphrase_file else None
        return cls.ssh_key(key, ssh_public_key_file, passphrase, username=username or "git")

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a message (for scrubbing)."""
        return tuple(value for value in (self.token, self.ssh_passphrase) if value)

    def callbacks(self) -> pygit2.RemoteCallbacks:
        return GitCallbacks(self)


def _read_secret(path: Path, what: str) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"cannot read {what} file {path}: {exc.strerror}") from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise SourceError(f"{what} file {path} is empty")
    return value


def _read_passphrase(path: Path) -> str:
    """The whole file but one trailing newline: spaces can be part of a passphrase."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    passphrase = text.removesuffix("\n").removesuffix("\r")
    if not passphrase:
        raise SourceError(f"passphrase file {path} is empty")
    return passphrase


class GitCallbacks(pygit2.RemoteCallbacks):
    """One network operation's callbacks: credentials, certificates, refused refs, time limit.

    Build one right before each fetch or push: its deadline starts then.
    """

    def __init__(
        self, credentials: Credentials | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__()
        self._creds = credentials
        self._attempts = 0
        self.rejected: dict[str, str] = {}
        milliseconds = max(1, round(timeout * 1000))
        pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, milliseconds)
        pygit2.option(Option.SET_SERVER_TIMEOUT, milliseconds)
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.Keypair:
        creds = self._creds
        self._attempts += 1
        if creds is None or self._attempts > MAX_CREDENTIAL_ATTEMPTS:
            raise SourceError("authentication failed (credentials missing or rejected)")
        username = username_from_url or creds.username
        if creds.token is not None and allowed_types & CredentialType.USERPASS_PLAINTEXT:
            return pygit2.UserPass(creds.username, creds.token)
        if creds.ssh_private_key is not None and allowed_types & CredentialType.SSH_KEY:
            return pygit2.Keypair(
                username, creds.ssh_public_key, creds.ssh_private_key, creds.ssh_passphrase or ""
            )
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username)
        raise SourceError("the remote asks for a kind of credentials that were not configured")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        return valid

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.rejected[refname] = message

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self._check_deadline()

    def sideband_progress(self, string: str) -> None:
        self._check_deadline()

    def push_transfer_progress(self, objects_pushed: int, total: int, bytes_pushed: int) -> None:
        self._check_deadline()

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise SourceError(f"timed out after {self._timeout:g}s")
