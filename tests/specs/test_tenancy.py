"""Tenancy limits: allowed backends and runtimes, GPUs per spec and per repository.

Every limit is checked exceeded and not exceeded, with the exact location and message; the
operator's limits can only tighten those of reconciler.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.errors import SpecProblem
from reconciler.specs import schema
from reconciler.specs.gpus import MAX_COMPARED_GPU_STEPS, gpu_demand
from reconciler.specs.loaded import SpecKey
from reconciler.specs.loader import load_directory
from reconciler.specs.models import SPEC_ADAPTER, AnySpec, TenancyLimits
from tests.specs.conftest import Writer

PROJECT = Path(__file__).resolve().parents[2]
CPU_SPEC = "cpu.yaml"  # a spec no limit refuses, in every repository: it must keep loading


def training(
    *, name: str = "train", backend: str = "pytorchjob", workers: int = 1, gpu: int = 0
) -> str:
    """A TrainingJob; ``spec.backend`` is on line 8 and ``spec.resources.gpu`` on line 11."""
    return f"""\
apiVersion: mlops/v1alpha1
kind: TrainingJob
metadata:
  name: {name}
spec:
  image: train:1
  command: [python, train.py]
  backend: {backend}
  workers: {workers}
  resources:
    gpu: {gpu}
"""


def serving(
    *,
    name: str = "serve",
    runtime: str = "kserve",
    scaling: str = "replicas: 1",
    gpu: int = 0,
    canary: int | None = None,
) -> str:
    """A ModelDeployment; ``spec.runtime`` is on line 7 and ``spec.resources.gpu`` on line 12."""
    text = f"""\
apiVersion: mlops/v1alpha1
kind: ModelDeployment
metadata:
  name: {name}
spec:
  model: {{uri: "s3://models/{name}"}}
  runtime: {runtime}
  format: sklearn
  image: serve:1
  {scaling}
  resources:
    gpu: {gpu}
"""
    if canary is not None:
        text += f'  canary: {{model: {{uri: "s3://models/next"}}, trafficPercent: {canary}}}\n'
    return text


def pipeline(*steps: tuple[str, list[str], int], name: str = "flow") -> str:
    """A Pipeline of ``(step, dependsOn, gpu)``; step i's gpu is at line 10 + 4i, column 19."""
    text = f"""\
apiVersion: mlops/v1alpha1
kind: Pipeline
metadata:
  name: {name}
spec:
  steps:
"""
    for step, depends_on, gpu in steps:
        text += (
            f"    - name: {step}\n"
            "      image: step:1\n"
            f"      dependsOn: [{', '.join(depends_on)}]\n"
            f"      resources: {{gpu: {gpu}}}\n"
        )
    return text


def _spec(text: str) -> AnySpec:
    return SPEC_ADAPTER.validate_python(yaml.safe_load(text), by_alias=True, by_name=False)


# ---------------------------------------------------------------- how GPUs are counted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(training(), None, id="training-without-gpu"),
        pytest.param(training(gpu=8), (8, "1 worker x 8 GPUs = 8"), id="training-one-worker"),
        pytest.param(
            training(workers=4, gpu=2), (8, "4 workers x 2 GPUs = 8"), id="training-workers"
        ),
        pytest.param(serving(), None, id="serving-without-gpu"),
        pytest.param(
            serving(scaling="replicas: 3", gpu=2), (6, "3 replicas x 2 GPUs = 6"), id="replicas"
        ),
        pytest.param(serving(gpu=1), (1, "1 replica x 1 GPU = 1"), id="one-replica"),
        pytest.param(
            serving(runtime="deployment", scaling="replicas: 0", gpu=2),
            None,
            id="scaled-to-zero",
        ),
        pytest.param(
            serving(scaling="replicas: 0", gpu=2),
            (2, "1 replica x 2 GPUs = 2"),
            id="kserve-zero-replicas-still-scales-to-one",
        ),
        pytest.param(
            serving(scaling="autoscaling: {minReplicas: 2, maxReplicas: 5}", gpu=1),
            (5, "maxReplicas 5 x 1 GPU = 5"),
            id="autoscaling-max",
        ),
        pytest.param(
            serving(scaling="replicas: 4", gpu=2, canary=10),
            (10, "(4 replicas + 1 canary) x 2 GPUs = 10"),
            id="canary-at-least-one-pod",
        ),
        pytest.param(
            serving(scaling="autoscaling: {minReplicas: 2, maxReplicas: 6}", gpu=1, canary=50),
            (7, "(maxReplicas 6 + 1 canary) x 1 GPU = 7"),
            id="canary-share-of-min-replicas",
        ),
        pytest.param(
            serving(scaling="replicas: 2", gpu=1, canary=0),
            (2, "2 replicas x 1 GPU = 2"),
            id="canary-without-traffic",
        ),
        pytest.param(pipeline(("a", [], 0)), None, id="pipeline-without-gpu"),
        pytest.param(
            pipeline(("prep", [], 1), ("train", ["prep"], 4), ("eval", ["train"], 2)),
            (4, "step 'train': 4 GPUs"),
            id="pipeline-chain-largest-step",
        ),
        pytest.param(
            pipeline(("prep", [], 0), ("a", ["prep"], 2), ("b", ["prep"], 3), ("c", ["a", "b"], 4)),
            (5, "steps 'a' and 'b' can run at once: 2 + 3 = 5"),
            id="pipeline-fan-out",
        ),
        pytest.param(
            pipeline(("a1", [], 1), ("a2", ["a1"], 3), ("b1", [], 2), ("b2", ["b1"], 1)),
            (5, "steps 'a2' and 'b1' can run at once: 3 + 2 = 5"),
            id="pipeline-parallel-chains",
        ),
        pytest.param(
            pipeline(("a", [], 1), ("b", [], 1), ("c", ["a"], 4)),
            (5, "steps 'b' and 'c' can run at once: 1 + 4 = 5"),
            id="pipeline-peak-after-the-first-step",
        ),
        pytest.param(
            pipeline(("a", [], 2), ("b", [], 2), ("c", ["a", "b"], 1), ("d", [], 1)),
            (5, "steps 'a', 'b' and 'd' can run at once: 2 + 2 + 1 = 5"),
            id="pipeline-three-at-once",
        ),
    ],
)
def test_gpu_demand(text: str, expected: tuple[int, str] | None) -> None:
    demand = gpu_demand(_spec(text))

    assert (None if demand is None else (demand.total, demand.working)) == expected


def test_a_pipeline_with_many_gpu_steps_counts_them_together() -> None:
    count = MAX_COMPARED_GPU_STEPS + 1
    steps = [(f"s{i}", [f"s{i - 1}"] if i else [], 1) for i in range(count)]

    demand = gpu_demand(_spec(pipeline(*steps)))

    assert demand is not None
    assert (demand.total, demand.working) == (
        count,
        f"{count} steps with GPUs, counted together: {count}",
    )
    assert demand.path == ("spec", "steps", 0, "resources", "gpu")


# ---------------------------------------------------------------- limits, located


CASES = [
    pytest.param(
        "allowedBackends: [pytorchjob, rayjob]\n",
        None,
        {"t.yaml": training(backend="rayjob", workers=2)},
        [],
        id="backend-allowed",
    ),
    pytest.param(
        "allowedBackends: [pytorchjob]\n",
        None,
        {"t.yaml": training(backend="rayjob", workers=2)},
        [
            (
                "t.yaml",
                8,
                3,
                "spec.backend",
                "backend 'rayjob' is not allowed by reconciler.yaml (allowedBackends: pytorchjob)",
            )
        ],
        id="backend-refused",
    ),
    pytest.param(
        "allowedBackends: [pytorchjob]\n",
        None,
        {"t.yaml": training().replace("  backend: pytorchjob\n", "")},
        [
            (
                "t.yaml",
                5,
                1,
                "spec.backend",
                "backend 'job' (the default) is not allowed by reconciler.yaml "
                "(allowedBackends: pytorchjob)",
            )
        ],
        id="default-backend-refused",
    ),
    pytest.param(
        "allowedBackends: []\n",
        None,
        {"t.yaml": training()},
        [
            (
                "t.yaml",
                8,
                3,
                "spec.backend",
                "backend 'pytorchjob' is not allowed by reconciler.yaml (allowedBackends: none)",
            )
        ],
        id="no-backend-allowed",
    ),
    pytest.param(
        "allowedRuntimes: [kserve, seldon]\n",
        None,
        {"s.yaml": serving(runtime="seldon")},
        [],
        id="runtime-allowed",
    ),
    pytest.param(
        "allowedRuntimes: [kserve, seldon]\n",
        None,
        {"s.yaml": serving(runtime="deployment")},
        [
            (
                "s.yaml",
                7,
                3,
                "spec.runtime",
                "runtime 'deployment' is not allowed by reconciler.yaml "
                "(allowedRuntimes: kserve, seldon)",
            )
        ],
        id="runtime-refused",
    ),
    pytest.param(
        "allowedRuntimes: [kserve]\n",
        None,
        {"s.yaml": serving().replace("  runtime: kserve\n", "")},
        [
            (
                "s.yaml",
                5,
                1,
                "spec.runtime",
                "runtime 'deployment' (the default) is not allowed by reconciler.yaml "
                "(allowedRuntimes: kserve)",
            )
        ],
        id="default-runtime-refused",
    ),
    pytest.param(
        "maxGpusPerSpec: 8\n",
        None,
        {"t.yaml": training(workers=4, gpu=2)},
        [],
        id="training-gpus-at-the-limit",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"t.yaml": training(workers=4, gpu=2)},
        [
            (
                "t.yaml",
                11,
                5,
                "spec.resources.gpu",
                "4 workers x 2 GPUs = 8 exceeds maxGpusPerSpec 4 (reconciler.yaml)",
            )
        ],
        id="training-gpus-exceeded",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"s.yaml": serving(scaling="replicas: 2", gpu=2)},
        [],
        id="serving-gpus-at-the-limit",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"s.yaml": serving(scaling="replicas: 2", gpu=2, canary=10)},
        [
            (
                "s.yaml",
                12,
                5,
                "spec.resources.gpu",
                "(2 replicas + 1 canary) x 2 GPUs = 6 exceeds maxGpusPerSpec 4 (reconciler.yaml)",
            )
        ],
        id="serving-canary-exceeds",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"s.yaml": serving(scaling="autoscaling: {maxReplicas: 5}", gpu=1)},
        [
            (
                "s.yaml",
                12,
                5,
                "spec.resources.gpu",
                "maxReplicas 5 x 1 GPU = 5 exceeds maxGpusPerSpec 4 (reconciler.yaml)",
            )
        ],
        id="serving-autoscaling-exceeds",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"p.yaml": pipeline(("a", [], 4), ("b", ["a"], 4), ("c", ["b"], 4))},
        [],
        id="pipeline-steps-one-after-another",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        None,
        {"p.yaml": pipeline(("prep", [], 0), ("a", ["prep"], 2), ("b", ["prep"], 3))},
        [
            (
                "p.yaml",
                14,
                19,
                "spec.steps[1].resources.gpu",
                "steps 'a' and 'b' can run at once: 2 + 3 = 5 exceeds maxGpusPerSpec 4 "
                "(reconciler.yaml)",
            )
        ],
        id="pipeline-steps-at-once-exceed",
    ),
    pytest.param(
        "maxGpusPerSpec: 8\n",
        TenancyLimits(max_gpus_per_spec=4),
        {"t.yaml": training(workers=4, gpu=2)},
        [
            # Asking for more than the operator allows is a mistake of the config itself.
            (
                "reconciler.yaml",
                1,
                1,
                "maxGpusPerSpec",
                "8 is above maxGpusPerSpec 4 (run settings); reconciler.yaml can only lower it",
            ),
            (
                "t.yaml",
                11,
                5,
                "spec.resources.gpu",
                "4 workers x 2 GPUs = 8 exceeds maxGpusPerSpec 4 (run settings)",
            ),
        ],
        id="operator-tightens-gpus",
    ),
    pytest.param(
        "maxGpusPerSpec: 4\n",
        TenancyLimits(max_gpus_per_spec=16),
        {"t.yaml": training(workers=4, gpu=2)},
        [
            (
                "t.yaml",
                11,
                5,
                "spec.resources.gpu",
                "4 workers x 2 GPUs = 8 exceeds maxGpusPerSpec 4 (reconciler.yaml)",
            )
        ],
        id="operator-cannot-loosen-gpus",
    ),
    pytest.param(
        "",
        TenancyLimits(max_gpus_per_spec=4),
        {"t.yaml": training(workers=2, gpu=2)},
        [],
        id="operator-limit-not-exceeded",
    ),
    pytest.param(
        "allowedBackends: [pytorchjob, rayjob]\n",
        TenancyLimits(allowed_backends=["rayjob"]),
        {"t.yaml": training()},
        [
            (
                "reconciler.yaml",
                1,
                19,
                "allowedBackends[0]",
                "'pytorchjob' is not allowed by run settings (allowedBackends: rayjob); "
                "reconciler.yaml can only narrow it",
            ),
            (
                "t.yaml",
                8,
                3,
                "spec.backend",
                "backend 'pytorchjob' is not allowed by run settings (allowedBackends: rayjob)",
            ),
        ],
        id="operator-narrows-backends",
    ),
    pytest.param(
        "allowedRuntimes: [kserve]\n",
        TenancyLimits(allowed_runtimes=["kserve", "seldon"]),
        {"s.yaml": serving(runtime="seldon")},
        [
            (
                "s.yaml",
                7,
                3,
                "spec.runtime",
                "runtime 'seldon' is not allowed by reconciler.yaml (allowedRuntimes: kserve)",
            )
        ],
        id="operator-cannot-widen-runtimes",
    ),
    pytest.param(
        "",
        TenancyLimits(allowed_namespaces=["ml"]),
        {"t.yaml": training()},
        [
            (
                "t.yaml",
                4,
                3,
                "metadata.name",
                "namespace 'default' is not allowed by run settings (allowedNamespaces: ml)",
            ),
            (
                CPU_SPEC,
                4,
                3,
                "metadata.name",
                "namespace 'default' is not allowed by run settings (allowedNamespaces: ml)",
            ),
        ],
        id="operator-narrows-namespaces",
    ),
    pytest.param(
        "maxGpusPerSpec: -1\nallowedBackends: [mpi]\n",
        None,
        {},
        [
            (
                "reconciler.yaml",
                1,
                1,
                "maxGpusPerSpec",
                "Input should be greater than or equal to 0",
            ),
            (
                "reconciler.yaml",
                2,
                19,
                "allowedBackends[0]",
                "Input should be 'job', 'pytorchjob', 'rayjob' or 'trainjob'",
            ),
        ],
        id="config-mistakes",
    ),
]


@pytest.mark.parametrize(("config", "limits", "files", "expected"), CASES)
def test_limit_is_reported_at_the_offending_field(
    write_repo: Writer,
    config: str,
    limits: TenancyLimits | None,
    files: dict[str, str],
    expected: list[tuple[str, int, int, str, str]],
) -> None:
    root = write_repo(
        {"reconciler.yaml": config, CPU_SPEC: pipeline(("only", [], 0), name="cpu"), **files}
    )

    result = load_directory(root, limits=limits)

    assert result.problems == tuple(sorted(SpecProblem(*problem) for problem in expected))
    refused = {problem[0] for problem in expected}
    loaded = {spec.file for spec in result.specs}
    assert loaded == ({CPU_SPEC, *files} - refused)


def test_a_refused_spec_is_invalid_and_the_others_load(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "maxGpusPerSpec: 4\n",
            "big.yaml": training(name="big", workers=4, gpu=2),
            "small.yaml": training(name="small", workers=2, gpu=2),
        }
    )

    result = load_directory(root)

    assert list(result.invalid) == [SpecKey("TrainingJob", "default", "big")]
    assert [spec.key.name for spec in result.specs] == ["small"]
    assert result.failed_files == {"big.yaml"}


# ---------------------------------------------------------------- repository total


def test_repository_total_keeps_the_specs_that_fit_first_in_file_order(
    write_repo: Writer,
) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "maxGpusPerRepository: 10\n",
            "a/train.yaml": training(name="first", workers=2, gpu=2),
            "b/serve.yaml": serving(name="second", scaling="replicas: 4", gpu=1),
            # Two documents in one file: document order decides between them.
            "c/more.yaml": training(name="third", gpu=4) + "---\n" + training(name="fourth", gpu=2),
            "d/cpu.yaml": training(name="cpu"),
        }
    )

    result = load_directory(root)

    assert [spec.key.name for spec in result.specs] == ["first", "second", "fourth", "cpu"]
    assert result.problems == (
        SpecProblem(
            "c/more.yaml",
            11,
            5,
            "spec.resources.gpu",
            "4 GPUs would bring the repository to 12, over maxGpusPerRepository 10 "
            "(reconciler.yaml); the specs before it in file order that fit keep their 8: "
            "TrainingJob default/first (a/train.yaml: 4), "
            "ModelDeployment default/second (b/serve.yaml: 4)",
        ),
    )
    assert list(result.invalid) == [SpecKey("TrainingJob", "default", "third")]


def test_repository_total_names_a_few_specs_and_counts_the_rest(write_repo: Writer) -> None:
    files = {f"t{i}.yaml": training(name=f"t{i}", gpu=1) for i in range(8)}
    root = write_repo({"reconciler.yaml": "maxGpusPerRepository: 7\n", **files})

    (problem,) = load_directory(root).problems

    assert (problem.file, problem.line, problem.field) == ("t7.yaml", 11, "spec.resources.gpu")
    assert problem.message == (
        "1 GPU would bring the repository to 8, over maxGpusPerRepository 7 (reconciler.yaml); "
        "the specs before it in file order that fit keep their 7: "
        + ", ".join(f"TrainingJob default/t{i} (t{i}.yaml: 1)" for i in range(5))
        + " and 2 more"
    )


def test_a_spec_over_the_repository_total_on_its_own(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "maxGpusPerRepository: 4\n",
            "a.yaml": training(name="huge", workers=4, gpu=2),
            "b.yaml": training(name="fits", workers=2, gpu=2),
        }
    )

    result = load_directory(root)

    assert result.problems == (
        SpecProblem(
            "a.yaml",
            11,
            5,
            "spec.resources.gpu",
            "4 workers x 2 GPUs = 8 exceeds maxGpusPerRepository 4 (reconciler.yaml)",
        ),
    )
    assert [spec.key.name for spec in result.specs] == ["fits"]


def test_specs_refused_otherwise_take_no_share_of_the_total(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "maxGpusPerSpec: 4\nmaxGpusPerRepository: 4\n",
            "a.yaml": training(name="over", workers=4, gpu=2),
            "b.yaml": training(name="fits", workers=2, gpu=2),
        }
    )

    result = load_directory(root)

    assert [problem.message.split(" exceeds ")[1] for problem in result.problems] == [
        "maxGpusPerSpec 4 (reconciler.yaml)"
    ]
    assert [spec.key.name for spec in result.specs] == ["fits"]


def test_operator_tightens_the_repository_total(write_repo: Writer) -> None:
    root = write_repo(
        {
            "reconciler.yaml": "maxGpusPerRepository: 100\n",
            "a.yaml": training(name="a", gpu=2),
            "b.yaml": training(name="b", gpu=2),
        }
    )

    result = load_directory(root, limits=TenancyLimits(max_gpus_per_repository=3))

    assert [problem.message for problem in result.problems] == [
        "2 GPUs would bring the repository to 4, over maxGpusPerRepository 3 (run settings); "
        "the specs before it in file order that fit keep their 2: "
        "TrainingJob default/a (a.yaml: 2)",
        "100 is above maxGpusPerRepository 3 (run settings); reconciler.yaml can only lower it",
    ]


# ---------------------------------------------------------------- schema and example


def test_schema_describes_the_limits() -> None:
    document = json.loads(schema.schemas()["reconciler-config.json"])
    validator = jsonschema.Draft202012Validator(document)
    example = yaml.safe_load((PROJECT / "examples/repo/reconciler.yaml").read_text())

    assert {"allowedBackends", "allowedRuntimes", "maxGpusPerSpec", "maxGpusPerRepository"} <= set(
        document["properties"]
    )
    assert list(validator.iter_errors(example)) == []
    assert not validator.is_valid({"allowedRuntimes": ["triton"]})
    assert not validator.is_valid({"maxGpusPerRepository": -1})


def test_example_repository_fits_its_limits() -> None:
    result = load_directory(PROJECT / "examples/repo")

    assert result.problems == ()
    config = result.config
    assert config.max_gpus_per_spec is not None and config.max_gpus_per_repository is not None
