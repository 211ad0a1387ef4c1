"""How many GPUs a spec holds at once, as the tenancy limits count them (docs/tenancy.md)."""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.render.common import split_replicas
from reconciler.specs.fieldpaths import FieldPath
from reconciler.specs.models import AnySpec, ModelDeployment, Pipeline, TrainingJob
from reconciler.specs.models.sweep import grid_size

# Steps with GPUs among which the heaviest set that can run at once is searched for; a
# pipeline with more counts all of them together, so a hostile spec cannot make loading slow.
MAX_COMPARED_GPU_STEPS = 64


@dataclass(frozen=True)
class GpuDemand:
    """The GPUs one spec requests at once, the field asking for them, and how they add up."""

    total: int
    path: FieldPath
    working: str  # "4 workers x 2 GPUs = 8"


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def gpu_demand(spec: AnySpec) -> GpuDemand | None:
    """What ``spec`` counts against the GPU limits; None when it asks for no GPU.

    TrainingJob: every worker is a pod with ``resources.gpu``, times ``sweep.parallelism``
    trials at once for a sweep. ModelDeployment: the most pods
    its runtime may run (replicas, or autoscaling.maxReplicas) plus the canary's pods, each with
    ``resources.gpu``. Pipeline: a step starts as soon as its upstreams succeed, so steps of
    which none is upstream of another can run at once; the count is the most GPUs such a set of
    steps holds (the largest step when the steps form a chain).
    """
    if isinstance(spec, TrainingJob):
        gpu, workers = spec.spec.resources.gpu, spec.spec.workers
        if not gpu:
            return None
        total = workers * gpu
        working = f"{plural(workers, 'worker')} x {plural(gpu, 'GPU')} = {total}"
        sweep = spec.spec.sweep
        if sweep is None:
            return GpuDemand(total, ("spec", "resources", "gpu"), working)
        # Trials run ``parallelism`` at once; a grid smaller than that runs all of them.
        at_once = min(sweep.parallelism, sweep.max_trials or grid_size(sweep))
        working = (
            f"{plural(at_once, 'trial')} at once x {plural(workers, 'worker')} x "
            f"{plural(gpu, 'GPU')} = {total * at_once}"
        )
        total *= at_once
        return GpuDemand(total, ("spec", "sweep", "parallelism"), working)
    if isinstance(spec, ModelDeployment):
        return _serving_demand(spec)
    return _pipeline_demand(spec)


def _serving_demand(spec: ModelDeployment) -> GpuDemand | None:
    body = spec.spec
    gpu = body.resources.gpu
    if not gpu:
        return None
    if body.autoscaling is not None:
        # The canary's share is taken of the replicas it starts from, as the renderers split.
        first, pods = body.autoscaling.min_replicas, body.autoscaling.max_replicas
        pods_text = f"maxReplicas {pods}"
    else:
        first = pods = 1 if body.replicas is None else body.replicas
        if body.runtime == "kserve":
            pods = max(pods, 1)  # KServe scales a service at zero replicas up to one pod
        pods_text = plural(pods, "replica")
    # A canary under analysis runs at most its last step's share short of promotion.
    canary = 0 if body.canary is None else split_replicas(first, body.canary.peak_percent)[1]
    if canary:
        pods_text = f"({pods_text} + {canary} canary)"
    total = (pods + canary) * gpu
    if not total:
        return None
    return GpuDemand(
        total, ("spec", "resources", "gpu"), f"{pods_text} x {plural(gpu, 'GPU')} = {total}"
    )


def _pipeline_demand(spec: Pipeline) -> GpuDemand | None:
    steps = spec.spec.steps
    gpus = {index: step.resources.gpu for index, step in enumerate(steps) if step.resources.gpu}
    if not gpus:
        return None
    if len(gpus) > MAX_COMPARED_GPU_STEPS:
        total = sum(gpus.values())
        path = ("spec", "steps", next(iter(gpus)), "resources", "gpu")
        return GpuDemand(total, path, f"{len(gpus)} steps with GPUs, counted together: {total}")
    group = _at_once(spec, gpus)
    path = ("spec", "steps", group[0], "resources", "gpu")
    total = sum(gpus[index] for index in group)
    if len(group) == 1:
        return GpuDemand(total, path, f"step {steps[group[0]].name!r}: {plural(total, 'GPU')}")
    names = [repr(steps[index].name) for index in group]
    working = (
        f"steps {', '.join(names[:-1])} and {names[-1]} can run at once: "
        f"{' + '.join(str(gpus[index]) for index in group)} = {total}"
    )
    return GpuDemand(total, path, working)


def _at_once(spec: Pipeline, gpus: Mapping[int, int]) -> list[int]:
    """The steps of ``gpus`` (step index -> GPUs) that can run at once with the most GPUs
    together, in file order.

    Steps can run at once when none is upstream of another (an antichain of the dependsOn
    order). The heaviest one is found as in Fulkerson's proof of Dilworth's theorem: a maximum
    flow from a left copy of every step to a right copy of each step downstream of it, each copy
    holding the step's GPUs, leaves as the answer the steps whose left copy the source still
    reaches and whose right copy it does not.
    """
    indexes = list(gpus)
    count = len(indexes)
    source, sink = 2 * count, 2 * count + 1
    residual: dict[tuple[int, int], int] = defaultdict(int)
    neighbours: list[list[int]] = [[] for _ in range(2 * count + 2)]

    def edge(start: int, end: int, capacity: int) -> None:
        residual[start, end] += capacity
        neighbours[start].append(end)
        neighbours[end].append(start)

    downstream = _downstream(spec, indexes)
    unbounded = sum(gpus.values()) + 1
    for left, index in enumerate(indexes):
        edge(source, left, gpus[index])
        edge(count + left, sink, gpus[index])
        for right, other in enumerate(indexes):
            if other in downstream[index]:
                edge(left, count + right, unbounded)
    while True:
        parents = _reach(source, neighbours, residual)
        if sink not in parents:
            break
        path = [sink]
        while path[-1] != source:
            path.append(parents[path[-1]])
        pairs = list(zip(path[1:], path[:-1], strict=True))
        pushed = min(residual[pair] for pair in pairs)
        for start, end in pairs:
            residual[start, end] -= pushed
            residual[end, start] += pushed
    reached = _reach(source, neighbours, residual)
    return [
        index
        for left, index in enumerate(indexes)
        if left in reached and count + left not in reached
    ]


def _reach(
    source: int, neighbours: Sequence[Sequence[int]], residual: Mapping[tuple[int, int], int]
) -> dict[int, int]:
    """Nodes reachable from ``source`` over edges with capacity left, each to its parent on a
    shortest path (breadth first: Edmonds-Karp)."""
    parents = {source: source}
    queue = [source]
    for node in queue:
        for nxt in neighbours[node]:
            if nxt not in parents and residual.get((node, nxt), 0) > 0:
                parents[nxt] = node
                queue.append(nxt)
    return parents


def _downstream(spec: Pipeline, indexes: Sequence[int]) -> dict[int, set[int]]:
    """For each step of ``indexes``, the others of ``indexes`` downstream of it."""
    steps = spec.spec.steps
    bit = {steps[index].name: 1 << position for position, index in enumerate(indexes)}
    graph = {step.name: step.depends_on for step in steps}
    # Upstream steps (of ``indexes``) of every step, as bit sets: linear in the pipeline's size.
    upstream: dict[str, int] = {}
    for name in graphlib.TopologicalSorter(graph).static_order():
        mask = 0
        for dep in graph[name]:
            mask |= upstream[dep] | bit.get(dep, 0)
        upstream[name] = mask
    return {
        index: {other for other in indexes if upstream[steps[other].name] & bit[steps[index].name]}
        for index in indexes
    }
