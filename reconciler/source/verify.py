"""Verified commits: a branch tip is applied only when a trusted key signed it.

pygit2 reads a commit's signature and the exact bytes it signs; checking the signature is left to
the programs git itself runs for ``git verify-commit``: ``gpg --verify`` for OpenPGP and
``ssh-keygen -Y verify`` for SSH. None of the project's dependencies implements OpenPGP or SSHSIG
verification (libgit2 only extracts signatures), and hand-written signature checking across RSA,
DSA, ECDSA, EdDSA and security-key formats is exactly the code not to improvise.

Trust is the key list given here and nothing else: gpg runs with a private home holding only the
trusted public keys (so any good signature it reports is from one of them, whatever gpg's own web
of trust thinks), and ssh-keygen with an allowed_signers file built from them. Only the commit
asked about is checked, as Flux does for the branch head: history before it is trusted through it.

A bad commit is an answer (``Verification.ok`` false with a reason), never an exception; unusable
key files or a missing program are a ``ConfigError`` at construction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
import structlog

from reconciler.errors import ConfigError

log = structlog.get_logger(__name__)

SSH_NAMESPACE = "git"  # what git signs commits in; a signature made for files or email is refused
_PGP_ARMOR = b"-----BEGIN PGP SIGNATURE-----"
_SSH_ARMOR = b"-----BEGIN SSH SIGNATURE-----"
_PGP_PUBLIC_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_SSH_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True)
class Verification:
    ok: bool
    reason: str
    signer: str | None = None


class CommitVerifier:
    """Checks commit signatures against OpenPGP and SSH public keys read from ``key_files``.

    Each file is an armored OpenPGP public key block, an SSH ``.pub`` file (its principal is the
    file name without the extension) or an allowed_signers file, told apart by content.
    """

    def __init__(
        self,
        key_files: Iterable[Path],
        *,
        gpg: str = "gpg",
        ssh_keygen: str = "ssh-keygen",
        timeout: float = 10.0,
    ) -> None:
        pgp_files: list[Path] = []
        signers: list[str] = []
        for path in key_files:
            text = _read_key_file(Path(path))
            if text.lstrip().startswith(_PGP_PUBLIC_KEY):
                pgp_files.append(Path(path))
            else:
                signers.extend(_allowed_signers(Path(path), text))
        if not pgp_files and not signers:
            raise ConfigError("commit verification needs at least one trusted key")
        self._timeout = timeout
        self._gpg = _tool(gpg, "OpenPGP keys") if pgp_files else None
        self._ssh_keygen = _tool(ssh_keygen, "SSH keys") if signers else None
        self._home = Path(tempfile.mkdtemp(prefix="reconciler-trust-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._home, ignore_errors=True)
        self._gnupg_home = self._home / "gnupg"
        self._gnupg_home.mkdir(mode=0o700)
        self._allowed_signers = self._home / "allowed_signers"
        self._allowed_signers.write_text("".join(line + "\n" for line in signers))
        try:
            self.fingerprints = tuple(fpr for path in pgp_files for fpr in self._import(path))
        except BaseException:
            self.close()
            raise
        log.info("verify.trusted_keys", openpgp=list(self.fingerprints), ssh=len(signers))

    @classmethod
    def from_directory(cls, directory: Path, **options: Any) -> CommitVerifier:
        """Every regular file of ``directory`` (dot-files skipped: a mounted Secret's internals)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"trusted keys directory {directory} does not exist")
        files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
        return cls(files, **options)

    def close(self) -> None:
        self._cleanup()

    def __enter__(self) -> CommitVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ verify

    def verify(self, repo: pygit2.Repository, commit_id: pygit2.Oid | str) -> Verification:
        """Is ``commit_id`` signed by a trusted key? Never raises for what the commit holds."""
        try:
            commit = repo[commit_id]
        except (KeyError, ValueError, pygit2.GitError):
            return Verification(False, f"commit {str(commit_id)[:7]} not found")
        short = str(commit.id)[:7]
        if not isinstance(commit, pygit2.Commit):
            return Verification(False, f"{short} is not a commit")
        signature, payload = commit.gpg_signature
        if not signature or payload is None:
            return Verification(False, f"commit {short} is not signed")
        try:
            if signature.startswith(_PGP_ARMOR):
                return self._verify_openpgp(signature, payload)
            if signature.startswith(_SSH_ARMOR):
                return self._verify_ssh(signature, payload)
        except subprocess.TimeoutExpired as exc:
            return Verification(False, f"{Path(str(exc.cmd[0])).name} timed out")
        except OSError as exc:
            return Verification(False, f"cannot run the signature check: {exc.strerror}")
        return Verification(False, f"commit {short} has an unsupported signature format")

    def _verify_openpgp(self, signature: bytes, payload: bytes) -> Verification:
        if self._gpg is None:
            return _untrusted(_pgp_issuer(signature))
        with tempfile.TemporaryDirectory(dir=self._home) as scratch:
            signature_file = Path(scratch) / "signature.asc"
            signature_file.write_bytes(signature)
            done = self._run(
                [self._gpg, *self._gpg_options(), "--verify", str(signature_file), "-"], payload
            )
        status: dict[str, list[str]] = {}
        for keyword, fields in _gpg_status(done.stdout):
            status.setdefault(keyword, fields)  # a commit carries one signature
        if "BADSIG" in status:
            return Verification(False, "bad signature")
        for keyword, what in (("EXPKEYSIG", "expired"), ("REVKEYSIG", "revoked")):
            if keyword in status:
                return Verification(False, f"signed by {what} key {status[keyword][0]}")
        if "NO_PUBKEY" in status:
            return _untrusted(_pgp_issuer(signature))
        if done.returncode != 0 or "GOODSIG" not in status or "VALIDSIG" not in status:
            log.warning("verify.gpg_failed", returncode=done.returncode, status=sorted(status))
            return Verification(False, "bad signature")
        # VALIDSIG: signing-key fingerprint ... primary-key fingerprint last.
        primary = status["VALIDSIG"][-1]
        user = " ".join(status["GOODSIG"][1:])
        return Verification(True, f"signed by {user} ({primary})", primary)

    def _verify_ssh(self, signature: bytes, payload: bytes) -> Verification:
        if self._ssh_keygen is None:
            return _untrusted(_ssh_fingerprint(signature))
        with tempfile.TemporaryDirectory(dir=self._home) as scratch:
            signature_file = Path(scratch) / "signature"
            signature_file.write_bytes(signature)
            # As git does: ask which trusted principals hold the signing key, then verify as each.
            ssh = [self._ssh_keygen, "-Y"]
            files = ["-f", str(self._allowed_signers), "-s", str(signature_file)]
            found = self._run([*ssh, "find-principals", *files])
            if found.returncode != 0:
                return _untrusted(_ssh_fingerprint(signature))
            # One line per matching key; a line may list several principals.
            principals = found.stdout.decode(errors="replace").replace(",", " ").split()
            for principal in principals:
                verify = [*ssh, "verify", "-I", principal, "-n", SSH_NAMESPACE, *files]
                if self._run(verify, payload).returncode == 0:
                    fingerprint = _ssh_fingerprint(signature)
                    return Verification(True, f"signed by {principal} ({fingerprint})", principal)
        return Verification(False, "bad signature")

    # ------------------------------------------------------------------ gpg home

    def _gpg_options(self) -> list[str]:
        # A private home, no background daemon, no key servers: nothing else is consulted.
        return [
            "--homedir", str(self._gnupg_home), "--batch", "--no-tty", "--no-autostart",
            "--no-auto-key-retrieve", "--status-fd", "1",
        ]  # fmt: skip

    def _import(self, path: Path) -> list[str]:
        assert self._gpg is not None
        try:
            done = self._run([self._gpg, *self._gpg_options(), "--import", str(path)])
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise ConfigError(f"trusted key file {path}: cannot run gpg: {exc}") from None
        imported = [
            fields[-1] for keyword, fields in _gpg_status(done.stdout) if keyword == "IMPORT_OK"
        ]
        if done.returncode != 0 or not imported:
            raise ConfigError(f"trusted key file {path}: gpg could not import an OpenPGP key")
        return imported

    def _run(self, command: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            command, input=stdin, capture_output=True, timeout=self._timeout, check=False
        )


def _tool(name: str, needed_for: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"{name} is not installed; it is needed to verify commits with {needed_for}"
        )
    return found


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read trusted key file {path}: {exc}") from None
    if "PRIVATE KEY" in text:
        raise ConfigError(f"trusted key file {path} holds a private key; give the public key")
    return text


def _allowed_signers(path: Path, text: str) -> list[str]:
    """allowed_signers lines for an SSH ``.pub`` or allowed_signers file; ConfigError if neither.

    A ``.pub`` line (``type key [comment]``) gets the file's stem as its principal; an
    allowed_signers line (``principals [options] type key``) is kept as written, options and all.
    """
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0] in _SSH_KEY_TYPES and len(fields) >= 2:
            _check_ssh_key(path, number, fields[0], fields[1])
            lines.append(f"{path.name.removesuffix('.pub')} {fields[0]} {fields[1]}")
            continue
        typed = [i for i, field in enumerate(fields) if field in _SSH_KEY_TYPES]
        if not typed or typed[0] == 0 or typed[0] + 1 >= len(fields):
            raise ConfigError(
                f"trusted key file {path}:{number}: not an armored OpenPGP public key, "
                "an SSH public key or an allowed_signers line"
            )
        _check_ssh_key(path, number, fields[typed[0]], fields[typed[0] + 1])
        lines.append(line)
    if not lines:
        raise ConfigError(f"trusted key file {path} holds no key")
    return lines


def _check_ssh_key(path: Path, number: int, key_type: str, encoded: str) -> None:
    """The base64 blob must decode and name the same key type, as the SSH wire format does."""
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    if _ssh_string(blob, 0)[0] != key_type.encode():
        raise ConfigError(f"trusted key file {path}:{number}: malformed {key_type} key")


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """One length-prefixed string of the SSH wire format and the offset after it."""
    if offset + 4 > len(blob):
        return b"", len(blob)
    length = int.from_bytes(blob[offset : offset + 4], "big")
    end = offset + 4 + length
    return blob[offset + 4 : end], end


def _untrusted(fingerprint: str) -> Verification:
    return Verification(False, f"signed by untrusted key {fingerprint}")


def _dearmor(signature: bytes) -> bytes:
    """The binary body of an ASCII-armored block (headers, blank line and checksum skipped)."""
    body = []
    for line in signature.decode("ascii", errors="replace").splitlines()[1:]:
        line = line.strip()
        if line.startswith("-----"):
            break
        if not line or ":" in line or line.startswith("="):
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body))
    except (binascii.Error, ValueError):
        return b""


def _ssh_fingerprint(signature: bytes) -> str:
    """``SHA256:...`` of the key inside an SSHSIG blob, as ``ssh-keygen -l`` prints it."""
    blob = _dearmor(signature)
    if not blob.startswith(b"SSHSIG"):
        return "(unreadable SSH signature)"
    key, _ = _ssh_string(blob, 10)  # after the 6-byte magic and the 4-byte version
    digest = base64.b64encode(hashlib.sha256(key).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _pgp_issuer(signature: bytes) -> str:
    """The issuer fingerprint (or key id) of an OpenPGP signature, read from its subpackets.

    Only needed when no OpenPGP key is trusted at all, so gpg is not there to name the signer.
    """
    packet = _pgp_signature_body(_dearmor(signature))
    if len(packet) < 6 or packet[0] != 4:
        return "(unknown OpenPGP key)"
    hashed = int.from_bytes(packet[4:6], "big")
    unhashed_at = 6 + hashed
    unhashed = int.from_bytes(packet[unhashed_at : unhashed_at + 2], "big")
    areas = packet[6:unhashed_at] + packet[unhashed_at + 2 : unhashed_at + 2 + unhashed]
    key_id = None
    for kind, data in _subpackets(areas):
        if kind == 33 and len(data) > 1:  # issuer fingerprint: version octet, fingerprint
            return data[1:].hex().upper()
        if kind == 16:  # issuer key id
            key_id = data.hex().upper()
    return key_id or "(unknown OpenPGP key)"


def _pgp_signature_body(data: bytes) -> bytes:
    """The body of the first packet (RFC 4880 4.2), old or new header format."""
    if len(data) < 2 or not data[0] & 0x80:
        return b""
    if data[0] & 0x40:  # new format
        first = data[1]
        if first < 192:
            return data[2 : 2 + first]
        if first < 224:
            length = ((first - 192) << 8) + data[2] + 192
            return data[3 : 3 + length]
        if first == 255:
            return data[6 : 6 + int.from_bytes(data[2:6], "big")]
        return b""  # partial lengths never occur in a detached signature
    size = {0: 1, 1: 2, 2: 4}.get(data[0] & 0x03)
    if size is None:
        return data[1:]  # indeterminate length: the rest of the data
    return data[1 + size : 1 + size + int.from_bytes(data[1 : 1 + size], "big")]


def _subpackets(area: bytes) -> Iterable[tuple[int, bytes]]:
    offset = 0
    while offset < len(area):
        first = area[offset]
        if first < 192:
            length, offset = first, offset + 1
        elif first < 255:
            length = ((first - 192) << 8) + area[offset + 1] + 192 if offset + 1 < len(area) else 0
            offset += 2
        else:
            length = int.from_bytes(area[offset + 1 : offset + 5], "big")
            offset += 5
        if length == 0 or offset + length > len(area):
            return
        yield area[offset] & 0x7F, area[offset + 1 : offset + length]
        offset += length


def _gpg_status(output: bytes) -> list[tuple[str, list[str]]]:
    """``[GNUPG:] KEYWORD fields...`` lines of ``--status-fd`` output as (keyword, fields)."""
    lines = []
    for line in output.decode("utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "[GNUPG:]":
            lines.append((fields[1], fields[2:]))
    return lines
