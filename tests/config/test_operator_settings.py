"""The operator's settings that bound a repository: impersonation, a namespaced install, and a
pinned status branch that can never be the spec branch, HEAD, a tag or a full ref name."""

from __future__ import annotations

import re

import pytest

from reconciler.config import OPTIONS, load_settings
from reconciler.errors import ConfigError
from reconciler.status.branch import problem


def flags(**given):
    return {option.name: given.get(option.name) for option in OPTIONS}


def test_service_account_from_flag_environment_and_file(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("serviceAccount: team-c/deployer\n")

    from_flag = load_settings(flags(repo="r", service_account="team-a/deployer"), {})
    from_env = load_settings(flags(repo="r"), {"RECONCILER_SERVICE_ACCOUNT": "team-b/deployer"})
    from_file = load_settings(flags(repo="r"), {}, str(config))

    assert from_flag.cluster.service_account == "team-a/deployer"
    assert from_env.cluster.service_account == "team-b/deployer"
    assert from_file.cluster.service_account == "team-c/deployer"
    assert load_settings(flags(repo="r"), {}).cluster.service_account is None


@pytest.mark.parametrize(
    "value", ["deployer", "team-a/", "/deployer", "Team/deployer", "a/b/c", "team-a/deployer\n"]
)
def test_service_account_must_be_namespace_slash_name(value):
    with pytest.raises(ConfigError, match="--service-account"):
        load_settings(flags(repo="r", service_account=value), {})


def test_a_namespaced_install_names_its_namespaces():
    settings = load_settings(flags(repo="r", namespaced=True, allowed_namespaces="ml,ml-dev"), {})
    environ = {"RECONCILER_NAMESPACED": "true", "RECONCILER_ALLOWED_NAMESPACES": "ml"}

    assert settings.tenancy.namespaced is True
    assert settings.tenancy.allowed_namespaces == ["ml", "ml-dev"]
    assert load_settings(flags(repo="r"), environ).tenancy.namespaced is True
    # Not a limit of the specs: it never reaches the loader.
    assert "namespaced" not in settings.tenancy.limits().model_fields_set
    with pytest.raises(ConfigError, match="--namespaced needs --allowed-namespaces"):
        load_settings(flags(repo="r", namespaced=True), {})


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("main", "it is the spec branch"),
        ("HEAD", "not HEAD or a full ref name"),
        ("refs/heads/status", "not HEAD or a full ref name"),
        ("refs/tags/v1.0", "not HEAD or a full ref name"),
        ("status..x", "not a valid branch name"),
        ("-status", "not a valid branch name"),
        ("status.lock", "not a valid branch name"),
        ("status\n", "not a valid branch name"),
    ],
)
def test_a_pinned_status_branch_is_checked(name, reason):
    assert reason in (problem(name, "main") or "")
    with pytest.raises(ConfigError, match=re.escape(f"--status-branch {name!r}")):
        load_settings(flags(repo="r", branch="main", status_branch=name), {})


@pytest.mark.parametrize("name", ["status", "reconciler/status", "status-main"])
def test_usable_status_branches(name):
    assert problem(name, "main") is None
    assert load_settings(flags(repo="r", status_branch=name), {}).source.status_branch == name
