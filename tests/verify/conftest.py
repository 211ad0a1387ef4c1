"""Keys and signed repositories made on the spot with the git, ssh-keygen and gpg programs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import ObjectType


def run(*command: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {done.stderr}")
    return done.stdout.strip()


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@dataclass(frozen=True)
class Signer:
    """How to make git sign with one key, and the files a verifier trusts it by."""

    config: tuple[str, ...]  # git -c options selecting the format and the key
    public: Path
    fingerprint: str  # as the tools print it: ssh-keygen -l, or the OpenPGP fingerprint
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheme:
    name: str
    trusted: Signer
    untrusted: Signer


class Repo:
    """A work tree committing with the git CLI, unaffected by any user or system config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        self._count = 0
        run("git", "init", "-q", str(path), env=self._env)

    @property
    def pygit(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.path))

    def commit(self, message: str, signer: Signer | None = None) -> str:
        self._count += 1
        (self.path / f"file{self._count}.yaml").write_text(f"n: {self._count}\n")
        config = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
        env = dict(self._env)
        sign = ["--no-gpg-sign"]
        if signer is not None:
            config += [part for option in signer.config for part in ("-c", option)]
            env.update(signer.env)
            sign = ["-S"]
        run("git", "add", "-A", cwd=self.path, env=env)
        run("git", *config, "commit", "-q", *sign, "-m", message, cwd=self.path, env=env)
        return run("git", "rev-parse", "HEAD", cwd=self.path, env=env)

    def tamper(self, commit_id: str, message: str) -> str:
        """A copy of the commit with another message but the original signature header."""
        repo = self.pygit
        kind, data = repo.odb.read(commit_id)
        assert kind == ObjectType.COMMIT
        original = repo[commit_id].message.encode()
        assert data.endswith(original)
        return str(repo.odb.write(ObjectType.COMMIT, data[: -len(original)] + message.encode()))


def _ssh_signer(root: Path, name: str) -> Signer:
    key = root / name
    run(
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        f"{name}@example.invalid",
        "-f",
        str(key),
    )
    public = key.with_suffix(".pub")
    fingerprint = run("ssh-keygen", "-l", "-f", str(public)).split()[1]
    return Signer(("gpg.format=ssh", f"user.signingkey={key}"), public, fingerprint)


@pytest.fixture(scope="module")
def ssh_scheme(tmp_path_factory: pytest.TempPathFactory) -> Scheme:
    require("ssh-keygen")
    root = tmp_path_factory.mktemp("ssh-keys")
    return Scheme("ssh", _ssh_signer(root, "trusted"), _ssh_signer(root, "untrusted"))


@pytest.fixture(scope="module")
def gpg_scheme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheme]:
    require("gpg")
    root = tmp_path_factory.mktemp("gpg-keys")
    home = root / "home"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    signers = []
    try:
        for name in ("trusted", "untrusted"):
            run(
                "gpg", "--batch", "--passphrase", "", "--pinentry-mode", "loopback",
                "--quick-gen-key", f"{name} <{name}@example.invalid>", "ed25519", "sign", "never",
                env=env,
            )  # fmt: skip
            listing = run("gpg", "--with-colons", "--list-keys", f"{name}@example.invalid", env=env)
            fingerprint = next(
                line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
            )
            public = root / f"{name}.asc"
            public.write_text(run("gpg", "--armor", "--export", fingerprint, env=env) + "\n")
            signers.append(Signer((f"user.signingkey={fingerprint}",), public, fingerprint, env))
        yield Scheme("openpgp", *signers)
    finally:
        # Key generation and signing started gpg's key daemon for this home: stop it too.
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture(params=["ssh", "openpgp"])
def scheme(request: pytest.FixtureRequest) -> Scheme:
    fixture = "ssh_scheme" if request.param == "ssh" else "gpg_scheme"
    return request.getfixturevalue(fixture)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")
