"""Settings precedence (flag > environment > file > default) and errors naming their origin."""

from __future__ import annotations

import pytest

from reconciler.config import OPTIONS, load_settings
from reconciler.errors import ConfigError


def flags(**given):
    return {option.name: given.get(option.name) for option in OPTIONS}


def test_defaults():
    settings = load_settings(flags(repo="/srv/specs.git"), {})
    assert settings.source.branch == "main"
    assert settings.source.interval == 60.0
    assert settings.cluster.max_prune_fraction == 0.5
    assert settings.service.once is False


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        ("flag", "env", "file", "flag"),
        (None, "env", "file", "env"),
        (None, None, "file", "file"),
        (None, None, None, "main"),
    ],
)
def test_precedence(tmp_path, flag, env, file, expected):
    config = tmp_path / "settings.yaml"
    config.write_text(f"branch: {file}\n" if file else "{}\n")
    environ = {"RECONCILER_BRANCH": env} if env else {}
    settings = load_settings(flags(repo="r", branch=flag), environ, str(config))
    assert settings.source.branch == expected


def test_every_option_has_an_environment_name_and_file_key():
    names = {option.env for option in OPTIONS}
    assert {"RECONCILER_REPO", "RECONCILER_STATUS_BRANCH", "RECONCILER_METRICS_PORT"} <= names
    assert {option.file_key for option in OPTIONS} >= {"statusBranch", "maxPruneFraction"}


def test_boolean_from_environment():
    assert load_settings(flags(repo="r"), {"RECONCILER_ONCE": "true"}).service.once is True
    with pytest.raises(ConfigError, match="RECONCILER_ONCE: 'maybe' is not a boolean"):
        load_settings(flags(repo="r"), {"RECONCILER_ONCE": "maybe"})


@pytest.mark.parametrize(
    ("given", "environ", "message"),
    [
        ({}, {}, "--repo (or RECONCILER_REPO) is required"),
        ({"repo": "r", "interval": "-1"}, {}, "--interval: Input should be greater than 0"),
        ({"repo": "r"}, {"RECONCILER_MAX_PRUNE_FRACTION": "2"}, "RECONCILER_MAX_PRUNE_FRACTION"),
        ({"repo": "r", "metrics_port": "http"}, {}, "--metrics-port"),
    ],
)
def test_bad_values_name_where_they_came_from(given, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(flags(**given), environ)
    assert message in str(caught.value)


def test_unknown_key_in_file(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("repo: r\nbrnach: main\n")
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) brnach"):
        load_settings(flags(), {}, str(config))


def test_tenancy_limits_from_flags_and_environment():
    settings = load_settings(
        flags(repo="r", max_gpus_per_spec="2"),
        {"RECONCILER_ALLOWED_BACKENDS": "job, pytorchjob"},
    )
    limits = settings.tenancy.limits()
    assert limits.max_gpus_per_spec == 2
    assert limits.allowed_backends == ["job", "pytorchjob"]
    with pytest.raises(ConfigError, match="RECONCILER_ALLOWED_BACKENDS"):
        load_settings(flags(repo="r"), {"RECONCILER_ALLOWED_BACKENDS": "slurm"})
