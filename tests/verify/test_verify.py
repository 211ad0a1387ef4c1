"""CommitVerifier against commits signed by the git CLI with real SSH and OpenPGP keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.source.verify import CommitVerifier
from tests.verify.conftest import Repo, Scheme, require


def _verifier(*files: Path) -> CommitVerifier:
    return CommitVerifier(files)


def test_signed_by_a_trusted_key_is_accepted(scheme: Scheme, repo: Repo) -> None:
    commit = repo.commit("signed", scheme.trusted)
    with _verifier(scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, commit)
    assert result.ok, result.reason
    assert result.reason.startswith("signed by ")
    assert result.signer
    if scheme.name == "ssh":
        assert result.signer == "trusted"  # the .pub file's name is its principal
    else:
        assert result.signer == verifier.fingerprints[0]


def test_signed_by_an_untrusted_key_names_that_key(scheme: Scheme, repo: Repo) -> None:
    commit = repo.commit("signed by someone else", scheme.untrusted)
    with _verifier(scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, commit)
    assert not result.ok
    assert result.reason == f"signed by untrusted key {scheme.untrusted.fingerprint}"
    assert result.signer is None


def test_an_unsigned_commit_is_refused(scheme: Scheme, repo: Repo) -> None:
    repo.commit("signed", scheme.trusted)
    commit = repo.commit("unsigned")
    with _verifier(scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, commit)
    assert (result.ok, result.reason) == (False, f"commit {commit[:7]} is not signed")


def test_a_tampered_commit_has_a_bad_signature(scheme: Scheme, repo: Repo) -> None:
    commit = repo.commit("deploy model v1", scheme.trusted)
    forged = repo.tamper(commit, "deploy model v666\n")
    with _verifier(scheme.trusted.public) as verifier:
        assert verifier.verify(repo.pygit, commit).ok
        result = verifier.verify(repo.pygit, forged)
    assert (result.ok, result.reason) == (False, "bad signature")


def test_ssh_commit_against_openpgp_keys_only_is_untrusted(
    ssh_scheme: Scheme, gpg_scheme: Scheme, repo: Repo
) -> None:
    commit = repo.commit("ssh", ssh_scheme.trusted)
    with _verifier(gpg_scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, commit)
    expected = ssh_scheme.trusted.fingerprint
    assert (result.ok, result.reason) == (False, f"signed by untrusted key {expected}")


def test_openpgp_commit_against_ssh_keys_only_is_untrusted(
    ssh_scheme: Scheme, gpg_scheme: Scheme, repo: Repo
) -> None:
    commit = repo.commit("openpgp", gpg_scheme.trusted)
    with _verifier(ssh_scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, commit)
    expected = gpg_scheme.trusted.fingerprint
    assert (result.ok, result.reason) == (False, f"signed by untrusted key {expected}")


def test_both_kinds_of_key_trusted_at_once(
    ssh_scheme: Scheme, gpg_scheme: Scheme, repo: Repo
) -> None:
    ssh_commit = repo.commit("ssh", ssh_scheme.trusted)
    gpg_commit = repo.commit("openpgp", gpg_scheme.trusted)
    with _verifier(ssh_scheme.trusted.public, gpg_scheme.trusted.public) as verifier:
        assert verifier.verify(repo.pygit, ssh_commit).ok
        assert verifier.verify(repo.pygit, gpg_commit).ok


def test_allowed_signers_file_names_the_principal(
    ssh_scheme: Scheme, repo: Repo, tmp_path: Path
) -> None:
    key_type, key = ssh_scheme.trusted.public.read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(
        f'# release keys\ndeploy@example.invalid namespaces="git" {key_type} {key}\n'
    )
    commit = repo.commit("signed", ssh_scheme.trusted)
    with _verifier(allowed) as verifier:
        result = verifier.verify(repo.pygit, commit)
    assert result.ok, result.reason
    assert result.signer == "deploy@example.invalid"


def test_a_missing_commit_is_an_answer_not_an_exception(ssh_scheme: Scheme, repo: Repo) -> None:
    repo.commit("first")
    with _verifier(ssh_scheme.trusted.public) as verifier:
        result = verifier.verify(repo.pygit, "0" * 40)
    assert (result.ok, result.reason) == (False, "commit 0000000 not found")


def test_directory_of_keys_skips_dot_files(ssh_scheme: Scheme, repo: Repo, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    (keys / "..data").mkdir(parents=True)  # what a mounted Kubernetes Secret looks like inside
    (keys / "..data" / "junk").write_text("not a key\n")
    (keys / "trusted.pub").write_text(ssh_scheme.trusted.public.read_text())
    commit = repo.commit("signed", ssh_scheme.trusted)
    with CommitVerifier.from_directory(keys) as verifier:
        assert verifier.verify(repo.pygit, commit).ok


def test_close_removes_the_private_key_store(ssh_scheme: Scheme) -> None:
    verifier = _verifier(ssh_scheme.trusted.public)
    home = verifier._home
    assert home.is_dir()
    verifier.close()
    assert not home.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello world\n", "not an armored OpenPGP public key"),
        ("ssh-ed25519 bm90IGEga2V5\n", "malformed ssh-ed25519 key"),
        ("# only a comment\n", "holds no key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "holds a private key"),
        ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm9wZQ==\n", "could not import"),
    ],
)
def test_unusable_key_files_fail_at_construction(
    content: str, message: str, tmp_path: Path
) -> None:
    if "PGP PUBLIC" in content:
        require("gpg")
    bad = tmp_path / "key"
    bad.write_text(content)
    with pytest.raises(ConfigError, match=message):
        CommitVerifier([bad])


def test_no_keys_or_missing_files_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one trusted key"):
        CommitVerifier([])
    with pytest.raises(ConfigError, match="cannot read trusted key file"):
        CommitVerifier([tmp_path / "absent.pub"])
    with pytest.raises(ConfigError, match="does not exist"):
        CommitVerifier.from_directory(tmp_path / "absent")


def test_a_missing_program_is_named(ssh_scheme: Scheme, gpg_scheme: Scheme) -> None:
    with pytest.raises(ConfigError, match="no-such-ssh-keygen is not installed"):
        CommitVerifier([ssh_scheme.trusted.public], ssh_keygen="no-such-ssh-keygen")
    with pytest.raises(ConfigError, match="no-such-gpg is not installed"):
        CommitVerifier([gpg_scheme.trusted.public], gpg="no-such-gpg")
