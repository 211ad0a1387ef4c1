"""Rules that need more than one spec: duplicates, tenancy limits and model references.

Pure: the loader hands in every document that names a spec (valid or not) and gets back, per
document, what is wrong with it. A reference to a spec that exists but is itself invalid is not
an error of the referrer: it waits for the target to be fixed.

Tenancy limits (allowed namespaces, backends and runtimes, GPUs per spec and per repository)
come from the operator's run settings and from ``reconciler.yaml``, which may only narrow them:
``widened`` finds what the config asks beyond the operator's bound (the loader then refuses the
whole config), so the limits in force are the intersection of the lists and the minimum of the
numbers, and messages name the one that refused. GPUs are counted by ``gpus.gpu_demand``
(docs/tenancy.md). The repository total is checked last, over the specs nothing else refused, in
file order: a spec that would take the total over the limit is refused and the specs that fit
before it keep their GPUs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter

from reconciler.errors import SpecProblem
from reconciler.specs.fieldpaths import FieldPath, Mark, format_path, locate
from reconciler.specs.gpus import gpu_demand, plural
from reconciler.specs.loaded import SpecKey
from reconciler.specs.models import (
    AnySpec,
    ModelDeployment,
    ModelSource,
    Pipeline,
    RepoConfig,
    TenancyLimits,
    TrainingJob,
)

_SOURCES: tuple[FieldPath, ...] = (("spec", "model"), ("spec", "canary", "model"))
_SOURCE_FIELDS: tuple[FieldPath, ...] = (
    ("fromTraining",),
    ("fromTraining", "name"),
    ("fromPipeline",),
    ("fromPipeline", "name"),
    ("fromPipeline", "step"),
    ("fromPipeline", "output"),
)

# The positions these rules point at, with their parents as fallbacks: the loader keeps just
# these marks of each document (and the steps' of ``is_located``), so a cached one stays small.
LOCATED_PATHS: frozenset[FieldPath] = frozenset(
    {
        (),
        ("metadata",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("spec",),
        ("spec", "backend"),
        ("spec", "runtime"),
        ("spec", "resources"),
        ("spec", "resources", "gpu"),
        ("spec", "sweep"),
        ("spec", "sweep", "parallelism"),
        ("spec", "canary"),
        *_SOURCES,
        *((*source, *rest) for source in _SOURCES for rest in _SOURCE_FIELDS),
    }
)
# Positions under each ``spec.steps[i]``: steps are numbered, so they cannot be listed above.
_STEP_PATHS: frozenset[FieldPath] = frozenset({(), ("resources",), ("resources", "gpu")})

# How messages name where a limit is set.
REPOSITORY = "reconciler.yaml"
OPERATOR = "run settings"

# Specs named in a repository-total message before the rest are only counted.
_NAMED_IN_TOTAL = 5


def is_located(path: FieldPath) -> bool:
    """Whether the loader keeps the mark of ``path`` for these rules."""
    if path in LOCATED_PATHS:
        return True
    return (
        len(path) >= 3
        and path[:2] == ("spec", "steps")
        and isinstance(path[2], int)
        and path[3:] in _STEP_PATHS
    )


@dataclass(frozen=True)
class Named:
    """A document that names a spec; ``spec`` is None when it is invalid on its own."""

    key: SpecKey
    file: str
    marks: Mapping[FieldPath, Mark]
    spec: AnySpec | None = None

    @cached_property
    def references(self) -> tuple[tuple[FieldPath, ModelSource], ...]:
        """The model sources that name another spec, with where they are written. Cached: the
        loader keeps a file's Named while the file is unchanged, so a load of thousands of
        specs reads the models of none but the changed."""
        if not isinstance(self.spec, ModelDeployment):
            return ()
        spec = self.spec.spec
        sources = [(_SOURCES[0], spec.model)]
        if spec.canary is not None:
            sources.append((_SOURCES[1], spec.canary.model))
        return tuple(
            (prefix, source)
            for prefix, source in sources
            if source.from_training is not None or source.from_pipeline is not None
        )


Sources = Sequence[tuple[str, TenancyLimits]]


def check(
    named: Sequence[Named],
    config: RepoConfig,
    references: bool = True,
    tightened: TenancyLimits | None = None,
) -> dict[int, list[SpecProblem]]:
    """Problems per index of ``named``; indexes without problems are absent.

    ``references=False`` when ``named`` is a part of a repository, whose targets may be
    elsewhere. ``tightened``: the operator's limits, applied on top of ``config``'s.
    """
    sources: list[tuple[str, TenancyLimits]] = [(REPOSITORY, config)]
    if tightened is not None:
        sources.append((OPERATOR, tightened))
    found: dict[int, list[SpecProblem]] = defaultdict(list)
    counts = Counter(map(attrgetter("key"), named))
    _duplicates(named, counts, found)
    _allowed(named, sources, found)
    if references:
        _references(named, counts, found)
    _gpus_per_spec(named, sources, found)
    # Last: only specs that nothing else refused take a share of the repository's GPUs.
    _gpus_per_repository(named, sources, found)
    return dict(found)


def _problem(doc: Named, path: FieldPath, message: str) -> SpecProblem:
    line, column = locate(doc.marks, path)
    return SpecProblem(doc.file, line, column, format_path(path), message)


def _name_line(doc: Named) -> int:
    return locate(doc.marks, ("metadata", "name"))[0]


def _duplicates(
    named: Sequence[Named], counts: Counter[SpecKey], found: dict[int, list[SpecProblem]]
) -> None:
    twice = {key for key, count in counts.items() if count > 1}
    if not twice:
        return
    by_key: dict[SpecKey, list[int]] = defaultdict(list)
    for index, doc in enumerate(named):
        if doc.key in twice:
            by_key[doc.key].append(index)
    for key, indexes in by_key.items():
        places = ", ".join(sorted(f"{named[i].file}:{_name_line(named[i])}" for i in indexes))
        message = f"{key.kind} {key.namespace}/{key.name} is defined more than once: {places}"
        for index in indexes:
            found[index].append(_problem(named[index], ("metadata", "name"), message))


# ---------------------------------------------------------------- tenancy limits


def _setting(attribute: str) -> str:
    """A limit as written in YAML: ``max_gpus_per_spec`` -> ``maxGpusPerSpec``."""
    return TenancyLimits.model_fields[attribute].alias or attribute


_LISTS = ("allowed_namespaces", "allowed_backends", "allowed_runtimes")
_NUMBERS = ("max_gpus_per_spec", "max_gpus_per_repository")


def widened(config: RepoConfig, operator: TenancyLimits) -> list[tuple[FieldPath, str]]:
    """Where ``config`` asks for more than the ``operator`` allows, and why: located in YAML.

    A list item the operator's list leaves out, a number above the operator's, and a
    ``defaultNamespace`` written outside the operator's namespaces. An unset repository value
    takes the operator's; an unset operator value bounds nothing.
    """
    found: list[tuple[FieldPath, str]] = []
    for attribute in _LISTS:
        bound: list[str] | None = getattr(operator, attribute)
        asked: list[str] | None = getattr(config, attribute)
        if bound is None or asked is None:
            continue
        setting = _setting(attribute)
        for index, value in enumerate(asked):
            if value not in bound:
                found.append(
                    (
                        (setting, index),
                        f"{value!r} is not allowed by {OPERATOR} ({setting}: "
                        f"{', '.join(bound) or 'none'}); {REPOSITORY} can only narrow it",
                    )
                )
    for attribute in _NUMBERS:
        most: int | None = getattr(operator, attribute)
        wanted: int | None = getattr(config, attribute)
        if most is not None and wanted is not None and wanted > most:
            setting = _setting(attribute)
            found.append(
                (
                    (setting,),
                    f"{wanted} is above {setting} {most} ({OPERATOR}); "
                    f"{REPOSITORY} can only lower it",
                )
            )
    namespaces = operator.allowed_namespaces
    written = "default_namespace" in config.model_fields_set
    if written and namespaces is not None and config.default_namespace not in namespaces:
        found.append(
            (
                ("defaultNamespace",),
                f"{config.default_namespace!r} is not allowed by {OPERATOR} "
                f"(allowedNamespaces: {', '.join(namespaces) or 'none'})",
            )
        )
    return found


def _refusal(
    lists: Sequence[tuple[str, list[str]]], attribute: str, what: str, value: str, note: str = ""
) -> str | None:
    """Why ``value`` is not allowed, by the first of the sources' ``lists`` that leaves it out."""
    for origin, allowed in lists:
        if value not in allowed:
            return (
                f"{what} {value!r}{note} is not allowed by {origin} "
                f"({_setting(attribute)}: {', '.join(allowed) or 'none'})"
            )
    return None


def _tightest(sources: Sources, attribute: str) -> tuple[int, str] | None:
    """The lowest of the sources' values and where it is set; on a tie, reconciler.yaml."""
    values = [
        (value, origin)
        for origin, limits in sources
        if (value := getattr(limits, attribute)) is not None
    ]
    return min(values, key=lambda item: item[0]) if values else None


def _allowed(named: Sequence[Named], sources: Sources, found: dict[int, list[SpecProblem]]) -> None:
    # Per limit, the sources that set it: without any, thousands of specs cost nothing here.
    lists = {
        attribute: [
            (origin, allowed)
            for origin, limits in sources
            if (allowed := getattr(limits, attribute)) is not None
        ]
        for attribute in _LISTS
    }
    if not any(lists.values()):
        return
    for index, doc in enumerate(named):
        written = ("metadata", "namespace") in doc.marks
        path = ("metadata", "namespace") if written else ("metadata", "name")
        namespaces = lists["allowed_namespaces"]
        refusal = _refusal(namespaces, "allowed_namespaces", "namespace", doc.key.namespace)
        if refusal:
            found[index].append(_problem(doc, path, refusal))
        spec = doc.spec
        if isinstance(spec, TrainingJob):
            path, attribute, value = ("spec", "backend"), "allowed_backends", spec.spec.backend
        elif isinstance(spec, ModelDeployment):
            path, attribute, value = ("spec", "runtime"), "allowed_runtimes", spec.spec.runtime
        else:
            continue
        note = "" if path in doc.marks else " (the default)"
        refusal = _refusal(lists[attribute], attribute, path[-1], value, note)
        if refusal:
            found[index].append(_problem(doc, path, refusal))


def _gpus_per_spec(
    named: Sequence[Named], sources: Sources, found: dict[int, list[SpecProblem]]
) -> None:
    limit = _tightest(sources, "max_gpus_per_spec")
    if limit is None:
        return
    most, origin = limit
    for index, doc in enumerate(named):
        demand = None if doc.spec is None else gpu_demand(doc.spec)
        if demand is not None and demand.total > most:
            message = f"{demand.working} exceeds maxGpusPerSpec {most} ({origin})"
            found[index].append(_problem(doc, demand.path, message))


def _gpus_per_repository(
    named: Sequence[Named], sources: Sources, found: dict[int, list[SpecProblem]]
) -> None:
    limit = _tightest(sources, "max_gpus_per_repository")
    if limit is None:
        return
    most, origin = limit
    # File order, the same from a directory and from a commit; within a file, document order.
    order = sorted(
        (index for index, doc in enumerate(named) if doc.spec is not None and index not in found),
        key=lambda index: (named[index].file, _name_line(named[index])),
    )
    taken = 0
    kept: list[str] = []
    for index in order:
        doc = named[index]
        assert doc.spec is not None  # filtered above
        demand = gpu_demand(doc.spec)
        if demand is None:
            continue
        if taken + demand.total <= most:
            taken += demand.total
            kept.append(
                f"{doc.key.kind} {doc.key.namespace}/{doc.key.name} ({doc.file}: {demand.total})"
            )
            continue
        if not kept:
            message = f"{demand.working} exceeds maxGpusPerRepository {most} ({origin})"
        else:
            listed = ", ".join(kept[:_NAMED_IN_TOTAL])
            if len(kept) > _NAMED_IN_TOTAL:
                listed += f" and {len(kept) - _NAMED_IN_TOTAL} more"
            message = (
                f"{plural(demand.total, 'GPU')} would bring the repository to "
                f"{taken + demand.total}, over maxGpusPerRepository {most} ({origin}); the "
                f"specs before it in file order that fit keep their {taken}: {listed}"
            )
        found[index].append(_problem(doc, demand.path, message))


def _references(
    named: Sequence[Named], counts: Counter[SpecKey], found: dict[int, list[SpecProblem]]
) -> None:
    referring = [(index, doc) for index, doc in enumerate(named) if doc.references]
    if not referring:
        return
    # A duplicated pipeline is invalid: like any invalid target, references to it wait.
    pipelines = {
        doc.key: doc.spec
        for doc in named
        if isinstance(doc.spec, Pipeline) and counts[doc.key] == 1
    }
    for index, doc in referring:
        for prefix, source in doc.references:
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
