"""Every name checked by a pattern refuses a trailing newline.

With ``re.match``, ``$`` also matches before a final newline: ``name: "evil\\n"`` passed
``validate`` and got a status file. Each case writes one field with and without the newline.
"""

from __future__ import annotations

import json

import pytest

from reconciler.cli import main
from reconciler.config import TenancySettings
from reconciler.specs.loader import load_directory
from reconciler.specs.models import RepoConfig, duration_seconds
from tests.specs.conftest import Writer

TRAINING = """\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{{label_key}: {label_value}}}
spec:
  image: train:1
  env: {{{env}: "1"}}
  hyperparameters: {{{hyperparameter}: 1}}
  timeout: {timeout}
"""

PIPELINE = """\
apiVersion: mlops/v1alpha1
kind: Pipeline
metadata:
  name: flow
spec:
  steps:
    - name: {step}
      image: step:1
      outputs: {{{output}: "s3://bucket/out"}}
"""

VALID = {
    "name": "train",
    "namespace": "ml",
    "label_key": "team",
    "label_value": "search",
    "env": "DEBUG",
    "hyperparameter": "lr",
    "timeout": "30m",
}

# (field as written in the template, where the problem is reported)
TRAINING_FIELDS = [
    ("name", "metadata.name"),
    ("namespace", "metadata.namespace"),
    ("label_key", "metadata.labels"),
    ("label_value", "metadata.labels"),
    ("env", "spec.env"),
    ("hyperparameter", "spec.hyperparameters"),
    ("timeout", "spec.timeout"),
]


def _quoted(value: str) -> str:
    return json.dumps(value)  # a double-quoted YAML scalar: "\n" is a newline


def _training(**override: str) -> str:
    values = {key: _quoted(value) for key, value in {**VALID, **override}.items()}
    return TRAINING.format(**values)


def test_the_valid_template_loads(write_repo: Writer) -> None:
    root = write_repo({"t.yaml": _training(), "p.yaml": PIPELINE.format(step="a", output="m")})

    result = load_directory(root)

    assert result.problems == ()
    assert len(result.specs) == 2


@pytest.mark.parametrize(("field", "reported"), TRAINING_FIELDS)
def test_a_trailing_newline_is_refused(write_repo: Writer, field: str, reported: str) -> None:
    root = write_repo({"t.yaml": _training(**{field: VALID[field] + "\n"})})

    result = load_directory(root)

    assert result.specs == ()
    assert [problem.field for problem in result.problems] == [reported]


@pytest.mark.parametrize(
    ("step", "output", "reported"),
    [("a\n", "m", "spec.steps[0].name"), ("a", "m\n", "spec.steps[0].outputs")],
)
def test_pipeline_names_refuse_a_trailing_newline(
    write_repo: Writer, step: str, output: str, reported: str
) -> None:
    root = write_repo({"p.yaml": PIPELINE.format(step=_quoted(step), output=_quoted(output))})

    result = load_directory(root)

    assert result.specs == ()
    assert [problem.field for problem in result.problems] == [reported]


def test_a_name_with_a_newline_gets_no_status_key(write_repo: Writer) -> None:
    """The finding: the spec was keyed (and given a status file) by its broken name."""
    root = write_repo({"t.yaml": _training(name="evil\n")})

    result = load_directory(root)

    assert result.invalid == {}
    assert result.failed_files == {"t.yaml"}


def test_validate_exits_1_on_a_name_with_a_newline(
    write_repo: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_repo({"t.yaml": _training(name="evil\n")})

    assert main(["validate", str(root)]) == 1

    assert "metadata.name: 'evil\\n' must be a DNS-1035 label" in capsys.readouterr().out


@pytest.mark.parametrize(
    "config",
    [
        {"defaultNamespace": "ml\n"},
        {"allowedNamespaces": ["ml\n"]},
    ],
)
def test_repository_config_names_refuse_a_trailing_newline(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        RepoConfig.model_validate(config)


def test_operator_namespaces_refuse_a_trailing_newline() -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        TenancySettings(allowed_namespaces=["ml\n"])


def test_a_duration_refuses_a_trailing_newline() -> None:
    assert duration_seconds("90s") == 90
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds("90s\n")
