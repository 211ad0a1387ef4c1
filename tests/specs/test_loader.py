"""Per-document validation and cross-spec rules, each with its exact location and message."""

from __future__ import annotations

import pytest

from reconciler.errors import SpecProblem
from reconciler.specs.loaded import SpecKey
from reconciler.specs.loader import load_directory
from reconciler.specs.sources import is_ignored
from tests.specs.conftest import TRAINING, Writer

SERVING = """\
apiVersion: mlops/v1alpha1
kind: ModelDeployment
metadata:
  name: churn
spec:
  model:
    fromTraining:
      name: churn-train
  image: registry.example.com/serve:1
"""

PIPELINE = """\
apiVersion: mlops/v1alpha1
kind: Pipeline
metadata:
  name: features
spec:
  steps:
    - name: extract
      image: etl:1
      outputs:
        raw: s3://bucket/raw/{run}
    - name: train
      image: train:1
      dependsOn: [extract]
      outputs:
        model: s3://bucket/model/{run}
        report: s3://bucket/report/{run}
"""


def _serving_from_pipeline(step: str, output: str | None) -> str:
    source = f"    fromPipeline:\n      name: features\n      step: {step}\n"
    if output is not None:
        source += f"      output: {output}\n"
    return SERVING.replace("    fromTraining:\n      name: churn-train\n", source)


CASES = [
    pytest.param(
        {"a.yaml": TRAINING + "  backoff_limit: 3\n"},
        [("a.yaml", 7, 3, "spec", "unknown field 'backoff_limit'")],
        id="unknown-field",
    ),
    pytest.param(
        {"a.yaml": TRAINING.replace("  image: registry.example.com/train:1\n", "  args: [x]\n")},
        [("a.yaml", 5, 1, "spec.image", "field required")],
        id="missing-field",
    ),
    pytest.param(
        {"a.yaml": TRAINING + "  resources:\n    cpu: 2\n    memory: lots\n"},
        [
            (
                "a.yaml",
                9,
                5,
                "spec.resources.memory",
                "'lots' is not a Kubernetes quantity (like 500m, 2, 1.5Gi)",
            )
        ],
        id="bad-quantity",
    ),
    pytest.param(
        {"a.yaml": TRAINING + "  workers: 4\n"},
        [
            (
                "a.yaml",
                7,
                3,
                "spec.workers",
                "workers > 1 needs a distributed backend (pytorchjob, rayjob or trainjob)",
            )
        ],
        id="workers-with-job-backend",
    ),
    pytest.param(
        {"p.yaml": PIPELINE.replace("image: etl:1\n", "image: etl:1\n      dependsOn: [train]\n")},
        [
            (
                "p.yaml",
                9,
                19,
                "spec.steps[0].dependsOn[0]",
                "steps form a cycle: extract -> train -> extract",
            )
        ],
        id="pipeline-cycle",
    ),
    pytest.param(
        {"p.yaml": PIPELINE.replace("dependsOn: [extract]", "dependsOn: [extract, load]")},
        [
            (
                "p.yaml",
                13,
                28,
                "spec.steps[1].dependsOn[1]",
                "step 'train' depends on unknown step 'load'",
            )
        ],
        id="unknown-depends-on",
    ),
    pytest.param(
        {"a.yaml": TRAINING, "b/c.yaml": "# copy\n" + TRAINING},
        [
            (
                "a.yaml",
                4,
                3,
                "metadata.name",
                "TrainingJob default/churn-train is defined more than once: a.yaml:4, b/c.yaml:5",
            ),
            (
                "b/c.yaml",
                5,
                3,
                "metadata.name",
                "TrainingJob default/churn-train is defined more than once: a.yaml:4, b/c.yaml:5",
            ),
        ],
        id="duplicate-across-files",
    ),
    pytest.param(
        {"s.yaml": SERVING},
        [
            (
                "s.yaml",
                8,
                7,
                "spec.model.fromTraining.name",
                "no TrainingJob 'churn-train' in namespace 'default'",
            )
        ],
        id="missing-from-training",
    ),
    pytest.param(
        {"s.yaml": SERVING.replace("  name: churn\n", "  name: churn\n  namespace: ml\n")},
        [
            (
                "s.yaml",
                9,
                7,
                "spec.model.fromTraining.name",
                "no TrainingJob 'churn-train' in namespace 'ml'",
            )
        ],
        id="from-training-in-another-namespace",
    ),
    pytest.param(
        {"p.yaml": PIPELINE, "s.yaml": _serving_from_pipeline("test", None)},
        [
            (
                "s.yaml",
                9,
                7,
                "spec.model.fromPipeline.step",
                "Pipeline 'features' has no step 'test' (steps: extract, train)",
            )
        ],
        id="from-pipeline-unknown-step",
    ),
    pytest.param(
        {"p.yaml": PIPELINE, "s.yaml": _serving_from_pipeline("train", "weights")},
        [
            (
                "s.yaml",
                10,
                7,
                "spec.model.fromPipeline.output",
                "step 'train' of Pipeline 'features' has no output 'weights' "
                "(outputs: model, report)",
            )
        ],
        id="from-pipeline-unknown-output",
    ),
    pytest.param(
        {"p.yaml": PIPELINE, "s.yaml": _serving_from_pipeline("train", None)},
        [
            (
                "s.yaml",
                7,
                5,
                "spec.model.fromPipeline",
                "step 'train' of Pipeline 'features' has 2 outputs (model, report): "
                "name one in output",
            )
        ],
        id="from-pipeline-ambiguous-output",
    ),
    pytest.param(
        {
            "s.yaml": SERVING
            + "  canary:\n    trafficPercent: 10\n    model:\n      fromTraining: {name: next}\n",
            "t.yaml": TRAINING,
        },
        [
            (
                "s.yaml",
                13,
                22,
                "spec.canary.model.fromTraining.name",
                "no TrainingJob 'next' in namespace 'default'",
            )
        ],
        id="canary-reference",
    ),
    pytest.param(
        {
            "reconciler.yaml": "defaultNamespace: ml\nallowedNamespaces: [ml]\n",
            "a.yaml": TRAINING.replace("  name: churn-train\n", "  name: x\n  namespace: prod\n"),
        },
        [
            (
                "a.yaml",
                5,
                3,
                "metadata.namespace",
                "namespace 'prod' is not allowed by reconciler.yaml (allowedNamespaces: ml)",
            )
        ],
        id="disallowed-namespace",
    ),
    pytest.param(
        {"a.yaml": TRAINING.replace("mlops/v1alpha1", "mlops/v2")},
        [("a.yaml", 1, 1, "apiVersion", "unsupported apiVersion 'mlops/v2'; use mlops/v1alpha1")],
        id="other-mlops-version",
    ),
    pytest.param(
        {"a.yaml": TRAINING.replace("TrainingJob", "Trainingjob")},
        [
            (
                "a.yaml",
                2,
                1,
                "kind",
                "unknown kind 'Trainingjob'; expected one of ModelDeployment, TrainingJob, Pipeline",
            )
        ],
        id="unknown-kind",
    ),
    pytest.param(
        {"a.yaml": TRAINING + "  env:\n    TOKEN:\n      secretKeyRef: {name: hub}\n"},
        [("a.yaml", 9, 7, "spec.env.TOKEN.secretKeyRef.key", "field required")],
        id="env-secret-without-key",
    ),
]


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_problem_is_reported_at_its_line(
    write_repo: Writer, files: dict[str, str], expected: list[tuple[int | str, ...]]
) -> None:
    result = load_directory(write_repo(files))

    assert result.problems == tuple(SpecProblem(*problem) for problem in expected)
    assert result.failed_files == {problem[0] for problem in expected}


def test_a_spec_broken_by_a_rule_moves_to_invalid(write_repo: Writer) -> None:
    result = load_directory(
        write_repo({"s.yaml": SERVING, "t.yaml": TRAINING.replace("churn-train", "other")})
    )

    assert [loaded.key for loaded in result.specs] == [SpecKey("TrainingJob", "default", "other")]
    assert list(result.invalid) == [SpecKey("ModelDeployment", "default", "churn")]


def test_valid_references_load(write_repo: Writer) -> None:
    result = load_directory(
        write_repo(
            {
                "p.yaml": PIPELINE,
                "s.yaml": SERVING,
                "t.yaml": TRAINING,
                "u.yaml": _serving_from_pipeline("train", "model").replace("churn\n", "u\n"),
                "v.yaml": _serving_from_pipeline("extract", None).replace("churn\n", "v\n"),
            }
        )
    )

    assert result.problems == ()
    assert len(result.specs) == 5


def test_namespace_comes_from_the_repository_config(write_repo: Writer) -> None:
    root = write_repo({"reconciler.yaml": "defaultNamespace: ml\n", "a.yaml": TRAINING})

    (loaded,) = load_directory(root).specs

    assert loaded.spec.metadata.namespace == "ml"
    assert loaded.key == SpecKey("TrainingJob", "ml", "churn-train")


def test_broken_config_is_reported_and_specs_load_with_defaults(write_repo: Writer) -> None:
    root = write_repo(
        {"reconciler.yaml": "defaultNamespace: ml\nignore: [x]\nstatus: main\n", "a.yaml": TRAINING}
    )

    result = load_directory(root)

    assert result.problems == (SpecProblem("reconciler.yaml", 3, 1, "", "unknown field 'status'"),)
    assert result.failed_files == {"reconciler.yaml"}
    assert [loaded.key for loaded in result.specs] == [
        SpecKey("TrainingJob", "default", "churn-train")
    ]


def test_several_documents_per_file_each_at_its_own_line(write_repo: Writer) -> None:
    broken = TRAINING.replace("churn-train", "second") + "  workers: 0\n"
    content = "# leading comment\n" + TRAINING + "---\n" + broken + "---\n---\n" + SERVING
    result = load_directory(write_repo({"all.yaml": content}))

    assert [(loaded.key.name, loaded.line) for loaded in result.specs] == [
        ("churn-train", 2),
        ("churn", 18),
    ]
    assert result.problems == (
        SpecProblem(
            "all.yaml", 15, 3, "spec.workers", "Input should be greater than or equal to 1"
        ),
    )
    assert list(result.invalid) == [SpecKey("TrainingJob", "default", "second")]


def test_documents_that_are_not_specs_are_skipped(write_repo: Writer) -> None:
    files = {
        "k8s/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        "tekton.yaml": "apiVersion: tekton.dev/v1\nkind: Pipeline\nspec: {tasks: []}\n",
        "empty.yaml": "# nothing here\n",
        "notes.txt": "apiVersion: mlops/v1alpha1\nkind: Nonsense\n",
        "no-version.yaml": TRAINING.replace("apiVersion: mlops/v1alpha1\n", "").replace(
            "churn-train", "implicit"
        ),
        "a.yml": TRAINING,
    }

    result = load_directory(write_repo(files))

    assert result.problems == (
        SpecProblem("no-version.yaml", 1, 1, "apiVersion", "field required"),
    )
    assert [loaded.file for loaded in result.specs] == ["a.yml"]


def test_ignore_globs_skip_files_and_directories(write_repo: Writer) -> None:
    broken = "apiVersion: mlops/v1alpha1\nkind: TrainingJob\n"
    files = {
        "reconciler.yaml": "ignore: ['fixtures/', '*.draft.yaml', '**/vendor/**', 'docs/*.yml']\n",
        "fixtures/a.yaml": broken,
        "team/fixtures/b.yaml": broken,
        "team/c.draft.yaml": broken,
        "vendor/d.yaml": broken,
        "x/vendor/e.yaml": broken,
        "docs/f.yml": broken,
        "team/t.yaml": TRAINING,
    }

    result = load_directory(write_repo(files))

    assert result.problems == ()
    assert [loaded.file for loaded in result.specs] == ["team/t.yaml"]


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("a/b/c.yaml", ["a"], True),
        ("a/b/c.yaml", ["b/"], True),
        ("a/b/c.yaml", ["a/b"], True),
        ("a/b/c.yaml", ["b/c.yaml"], False),
        ("a/b/c.yaml", ["*/c.yaml"], True),
        ("c.yaml", ["**/c.yaml"], True),
        ("ab/c.yaml", ["a"], False),
    ],
)
def test_is_ignored(path: str, patterns: list[str], ignored: bool) -> None:
    assert is_ignored(path, patterns) is ignored


def test_symbolic_links_are_not_followed(write_repo: Writer, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "t.yaml").write_text(TRAINING)
    root = write_repo({"a.yaml": TRAINING.replace("churn-train", "inside")})
    (root / "linked").symlink_to(outside)
    (root / "linked.yaml").symlink_to(outside / "t.yaml")

    result = load_directory(root)

    assert [loaded.file for loaded in result.specs] == ["a.yaml"]
