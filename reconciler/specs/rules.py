"""Rules that need more than one spec: duplicates, allowed namespaces and model references.

Pure: the loader hands in every document that names a spec (valid or not) and gets back, per
document, what is wrong with it. A reference to a spec that exists but is itself invalid is not
an error of the referrer: it waits for the target to be fixed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.errors import SpecProblem
from reconciler.specs.loaded import SpecKey
from reconciler.specs.models import AnySpec, ModelDeployment, ModelSource, Pipeline, RepoConfig
from reconciler.specs.yamlsafe import FieldPath, Mark, format_path, locate

_SOURCES: tuple[FieldPath, ...] = (("spec", "model"), ("spec", "canary", "model"))
_SOURCE_FIELDS: tuple[FieldPath, ...] = (
    ("fromTraining",),
    ("fromTraining", "name"),
    ("fromPipeline",),
    ("fromPipeline", "name"),
    ("fromPipeline", "step"),
    ("fromPipeline", "output"),
)

# The only positions these rules point at, with their parents as fallbacks: the loader keeps
# just these marks of each document, so a cached document stays small.
LOCATED_PATHS: frozenset[FieldPath] = frozenset(
    {
        (),
        ("metadata",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("spec",),
        ("spec", "canary"),
        *_SOURCES,
        *((*source, *rest) for source in _SOURCES for rest in _SOURCE_FIELDS),
    }
)


@dataclass(frozen=True)
class Named:
    """A document that names a spec; ``spec`` is None when it is invalid on its own."""

    key: SpecKey
    file: str
    marks: Mapping[FieldPath, Mark]
    spec: AnySpec | None = None


def check(
    named: Sequence[Named], config: RepoConfig, references: bool = True
) -> dict[int, list[SpecProblem]]:
    """Problems per index of ``named``; indexes without problems are absent.

    ``references=False`` when ``named`` is a part of a repository, whose targets may be
    elsewhere.
    """
    found: dict[int, list[SpecProblem]] = defaultdict(list)
    _duplicates(named, found)
    _namespaces(named, config, found)
    if references:
        _references(named, found)
    return dict(found)


def _problem(doc: Named, path: FieldPath, message: str) -> SpecProblem:
    line, column = locate(doc.marks, path)
    return SpecProblem(doc.file, line, column, format_path(path), message)


def _name_line(doc: Named) -> int:
    return locate(doc.marks, ("metadata", "name"))[0]


def _duplicates(named: Sequence[Named], found: dict[int, list[SpecProblem]]) -> None:
    by_key: dict[SpecKey, list[int]] = defaultdict(list)
    for index, doc in enumerate(named):
        by_key[doc.key].append(index)
    for key, indexes in by_key.items():
        if len(indexes) < 2:
            continue
        places = ", ".join(sorted(f"{named[i].file}:{_name_line(named[i])}" for i in indexes))
        message = f"{key.kind} {key.namespace}/{key.name} is defined more than once: {places}"
        for index in indexes:
            found[index].append(_problem(named[index], ("metadata", "name"), message))


def _namespaces(
    named: Sequence[Named], config: RepoConfig, found: dict[int, list[SpecProblem]]
) -> None:
    allowed = config.allowed_namespaces
    if allowed is None:
        return
    for index, doc in enumerate(named):
        if doc.key.namespace in allowed:
            continue
        written = ("metadata", "namespace") in doc.marks
        path = ("metadata", "namespace") if written else ("metadata", "name")
        message = (
            f"namespace {doc.key.namespace!r} is not allowed by reconciler.yaml "
            f"(allowedNamespaces: {', '.join(allowed)})"
        )
        found[index].append(_problem(doc, path, message))


def _references(named: Sequence[Named], found: dict[int, list[SpecProblem]]) -> None:
    counts = Counter(doc.key for doc in named)
    # A duplicated pipeline is invalid: like any invalid target, references to it wait.
    pipelines = {
        doc.key: doc.spec
        for doc in named
        if isinstance(doc.spec, Pipeline) and counts[doc.key] == 1
    }
    for index, doc in enumerate(named):
        if not isinstance(doc.spec, ModelDeployment):
            continue
        sources = [(_SOURCES[0], doc.spec.spec.model)]
        if doc.spec.spec.canary is not None:
            sources.append((_SOURCES[1], doc.spec.spec.canary.model))
        for prefix, source in sources:
            for path, message in _source_problems(doc.key.namespace, source, counts, pipelines):
                found[index].append(_problem(doc, (*prefix, *path), message))


def _source_problems(
    namespace: str,
    source: ModelSource,
    existing: Mapping[SpecKey, int],
    pipelines: Mapping[SpecKey, Pipeline],
) -> list[tuple[FieldPath, str]]:
    if source.from_training is not None:
        name = source.from_training.name
        if SpecKey("TrainingJob", namespace, name) not in existing:
            return [
                (("fromTraining", "name"), f"no TrainingJob {name!r} in namespace {namespace!r}")
            ]
        return []
    ref = source.from_pipeline
    if ref is None:
        return []
    key = SpecKey("Pipeline", namespace, ref.name)
    if key not in existing:
        return [(("fromPipeline", "name"), f"no Pipeline {ref.name!r} in namespace {namespace!r}")]
    pipeline = pipelines.get(key)
    if pipeline is None:  # invalid on its own: its own problems say why
        return []
    steps = {step.name: step for step in pipeline.spec.steps}
    step = steps.get(ref.step)
    if step is None:
        return [
            (
                ("fromPipeline", "step"),
                f"Pipeline {ref.name!r} has no step {ref.step!r} (steps: {', '.join(steps)})",
            )
        ]
    outputs = ", ".join(step.outputs) or "none"
    if ref.output is not None:
        if ref.output not in step.outputs:
            return [
                (
                    ("fromPipeline", "output"),
                    f"step {ref.step!r} of Pipeline {ref.name!r} has no output {ref.output!r} "
                    f"(outputs: {outputs})",
                )
            ]
        return []
    if len(step.outputs) != 1:
        return [
            (
                ("fromPipeline",),
                f"step {ref.step!r} of Pipeline {ref.name!r} has {len(step.outputs)} outputs "
                f"({outputs}): name one in output",
            )
        ]
    return []
