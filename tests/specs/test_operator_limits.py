"""The operator's limits bound reconciler.yaml: a repository can narrow them, never widen them.

A config value outside the operator's bound is a problem of reconciler.yaml itself, located at
the field, and lands in ``config_problems`` (which the engine treats as "apply nothing from this
commit"). Narrowing works as an intersection of lists and a minimum of numbers.
"""

from __future__ import annotations

import pytest

from reconciler.cli import main
from reconciler.errors import SpecProblem
from reconciler.specs.loader import load_directory
from reconciler.specs.models import TenancyLimits
from tests.specs.conftest import Writer

OPERATOR = TenancyLimits(
    allowed_namespaces=["ml", "ml-staging"],
    allowed_backends=["job", "pytorchjob"],
    allowed_runtimes=["deployment", "kserve"],
    max_gpus_per_spec=4,
    max_gpus_per_repository=8,
)


def training(name: str, namespace: str = "ml", backend: str = "job", gpu: int = 0) -> str:
    return f"""\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata:
  name: {name}
  namespace: {namespace}
spec:
  image: train:1
  command: [python, train.py]
  backend: {backend}
  resources:
    gpu: {gpu}
"""


WIDENING = [
    pytest.param(
        "defaultNamespace: ml\nallowedNamespaces: [ml, kube-system]\n",
        (2, 25, "allowedNamespaces[1]"),
        "'kube-system' is not allowed by run settings (allowedNamespaces: ml, ml-staging); "
        "reconciler.yaml can only narrow it",
        id="namespaces",
    ),
    pytest.param(
        "allowedBackends:\n  - job\n  - rayjob\n",
        (3, 5, "allowedBackends[1]"),
        "'rayjob' is not allowed by run settings (allowedBackends: job, pytorchjob); "
        "reconciler.yaml can only narrow it",
        id="backends",
    ),
    pytest.param(
        "allowedRuntimes: [seldon]\n",
        (1, 19, "allowedRuntimes[0]"),
        "'seldon' is not allowed by run settings (allowedRuntimes: deployment, kserve); "
        "reconciler.yaml can only narrow it",
        id="runtimes",
    ),
    pytest.param(
        "maxGpusPerSpec: 64\n",
        (1, 1, "maxGpusPerSpec"),
        "64 is above maxGpusPerSpec 4 (run settings); reconciler.yaml can only lower it",
        id="gpus-per-spec",
    ),
    pytest.param(
        "defaultNamespace: ml\nmaxGpusPerRepository: 9\n",
        (2, 1, "maxGpusPerRepository"),
        "9 is above maxGpusPerRepository 8 (run settings); reconciler.yaml can only lower it",
        id="gpus-per-repository",
    ),
    pytest.param(
        "defaultNamespace: kube-system\n",
        (1, 1, "defaultNamespace"),
        "'kube-system' is not allowed by run settings (allowedNamespaces: ml, ml-staging)",
        id="default-namespace",
    ),
]


@pytest.mark.parametrize(("config", "where", "message"), WIDENING)
def test_widening_a_limit_is_a_config_problem(
    write_repo: Writer, config: str, where: tuple[int, int, str], message: str
) -> None:
    root = write_repo({"reconciler.yaml": config, "t.yaml": training("t")})

    result = load_directory(root, limits=OPERATOR)

    expected = SpecProblem("reconciler.yaml", *where, message)
    assert result.config_problems == (expected,)
    assert expected in result.problems


@pytest.mark.parametrize(("config", "where", "message"), WIDENING)
def test_without_operator_limits_the_same_config_is_fine(
    write_repo: Writer, config: str, where: tuple[int, int, str], message: str
) -> None:
    root = write_repo({"reconciler.yaml": config, "t.yaml": training("t")})

    assert load_directory(root).config_problems == ()


def test_narrowing_intersects_lists_and_takes_the_lower_number(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "defaultNamespace: ml\nallowedNamespaces: [ml]\nmaxGpusPerSpec: 2\n",
            "ok.yaml": training("ok", gpu=2),
            "staging.yaml": training("staging", namespace="ml-staging"),
            "big.yaml": training("big", gpu=3),
        }
    )

    result = load_directory(root, limits=OPERATOR)

    assert result.config_problems == ()
    assert [spec.key.name for spec in result.specs] == ["ok"]
    assert sorted((p.file, p.message) for p in result.problems) == [
        ("big.yaml", "1 worker x 3 GPUs = 3 exceeds maxGpusPerSpec 2 (reconciler.yaml)"),
        (
            "staging.yaml",
            "namespace 'ml-staging' is not allowed by reconciler.yaml (allowedNamespaces: ml)",
        ),
    ]


def test_an_unset_repository_limit_takes_the_operators(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "defaultNamespace: ml\n",
            "system.yaml": training("system", namespace="kube-system"),
            "ray.yaml": training("ray", backend="rayjob"),
            "gpus.yaml": training("gpus", gpu=5),
        }
    )

    result = load_directory(root, limits=OPERATOR)

    assert result.config_problems == ()
    assert result.specs == ()
    assert {p.file: p.field for p in result.problems} == {
        "system.yaml": "metadata.namespace",
        "ray.yaml": "spec.backend",
        "gpus.yaml": "spec.resources.gpu",
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "allowedNamespace: [ml]\n",
            "reconciler.yaml:1:1: (document): unknown field 'allowedNamespace'",
        ),
        (
            "maxGpusPerSpec: one\n",
            "reconciler.yaml:1:1: maxGpusPerSpec: Input should be a valid integer",
        ),
        ("allowedNamespaces: [ml\n", "reconciler.yaml:2:1: (document): "),
    ],
    ids=["unknown-key", "wrong-type", "does-not-parse"],
)
def test_a_config_that_does_not_validate_is_named_by_validate(
    write_repo: Writer, capsys: pytest.CaptureFixture[str], config: str, expected: str
) -> None:
    root = write_repo({"reconciler.yaml": config, "t.yaml": training("t")})

    result = load_directory(root)
    assert len(result.config_problems) == 1
    assert main(["validate", str(root)]) == 1

    lines = [line.removeprefix(f"{root}/") for line in capsys.readouterr().out.splitlines()]
    assert any(line.startswith(expected) for line in lines), lines
