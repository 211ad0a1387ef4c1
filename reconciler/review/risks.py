"""Risk notes: changes a reviewer should look at twice. Pure functions of the two spec versions.

Each rule returns sentences; an empty list means nothing risky. Namespace moves need both
sides of the whole repository and are found in ``reconciler.review.compare``.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.review.values import number
from reconciler.specs.models import AnySpec, ModelDeployment, Pipeline, TrainingJob

CANARY_MAJORITY = 50  # percent: above it the untried model takes most of the traffic
CANARY_JUMP = 50  # percentage points in one change


def assess(base: AnySpec | None, head: AnySpec | None) -> tuple[str, ...]:
    notes: list[str] = []
    for rule in (_serving_removed, _gpus, _images, _canary, _gate, _runtime):
        notes.extend(rule(base, head))
    return tuple(notes)


def moved(kind: str, name: str, source: str, target: str) -> str:
    return (
        f"{kind} {name} moves from namespace {source} to {target}: its objects in {source} "
        f"are deleted and new ones created in {target}"
    )


def _serving_removed(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    if not isinstance(base, ModelDeployment):
        return []
    if head is None:
        return [f"serving deleted: {base.metadata.name} stops serving"]
    if not isinstance(head, ModelDeployment):
        return []
    if head.spec.replicas == 0 and base.spec.replicas != 0:
        return [f"serving scaled to zero: {head.metadata.name} stops serving"]
    return []


# ---------------------------------------------------------------- GPUs


@dataclass(frozen=True)
class _Gpus:
    count: int
    hours: float | None  # None: unbounded (no timeout)
    how: str

    def hours_text(self) -> str:
        return "unbounded" if self.hours is None else number(round(self.hours, 2))


def _gpu_use(spec: AnySpec | None) -> _Gpus | None:
    if isinstance(spec, TrainingJob):
        body = spec.spec
        count = body.workers * body.resources.gpu
        seconds = body.timeout_seconds
        hours = None if seconds is None else count * seconds / 3600
        timeout = f"timeout {body.timeout}" if body.timeout else "no timeout"
        how = f"{body.workers} worker(s) x {body.resources.gpu} GPU, {timeout}"
        return _Gpus(count, 0 if count == 0 else hours, how)
    if isinstance(spec, Pipeline):
        count = sum(step.resources.gpu for step in spec.spec.steps)
        # Pipeline steps have no timeout, so any GPU they hold is held without a bound.
        return _Gpus(count, 0 if count == 0 else None, "sum over steps, which have no timeout")
    if isinstance(spec, ModelDeployment):
        body = spec.spec
        replicas = body.autoscaling.max_replicas if body.autoscaling else body.replicas
        replicas = 1 if replicas is None else replicas
        count = replicas * body.resources.gpu
        return _Gpus(
            count,
            0 if count == 0 else None,
            f"{replicas} replica(s) x {body.resources.gpu} GPU, serving runs until removed",
        )
    return None


def _gpus(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    new = _gpu_use(head)
    if new is None or new.count == 0:
        return []
    old = _gpu_use(base) or _Gpus(0, 0, "")
    more_hours = old.hours is not None and (new.hours is None or new.hours > old.hours)
    if new.count <= old.count and not more_hours:
        return []
    return [
        f"GPUs raised {old.count} -> {new.count}, GPU-hours {old.hours_text()} -> "
        f"{new.hours_text()} ({new.how})"
    ]


# ---------------------------------------------------------------- images


def _images_of(spec: AnySpec | None) -> set[str]:
    if isinstance(spec, ModelDeployment):
        return {spec.spec.image} if spec.spec.image else set()
    if isinstance(spec, TrainingJob):
        return {spec.spec.image}
    if isinstance(spec, Pipeline):
        return {step.image for step in spec.spec.steps}
    return set()


def unpinned(image: str) -> str | None:
    """Why ``image`` does not name one fixed build, or None when it does."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (means latest) and no digest"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses the tag latest"
    return None


def _images(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    new = sorted(_images_of(head) - _images_of(base))
    notes = []
    for image in new:
        why = unpinned(image)
        if why:
            notes.append(f"image {image} {why}: what runs can change without a commit")
    return notes


# ---------------------------------------------------------------- serving changes


def _canary(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    if not isinstance(head, ModelDeployment) or head.spec.canary is None:
        return []
    old = 0
    if isinstance(base, ModelDeployment) and base.spec.canary is not None:
        old = base.spec.canary.first_percent
    new = head.spec.canary.first_percent
    crosses = old <= CANARY_MAJORITY < new
    if crosses or new - old > CANARY_JUMP:
        return [f"canary traffic jumps {old}% -> {new}%"]
    return []


def _gate(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    if not isinstance(base, ModelDeployment) or base.spec.promotion is None:
        return []
    if not isinstance(head, ModelDeployment):
        return []
    if head.spec.promotion is None:
        return ["promotion gate removed: any finished run will be served"]
    notes = []
    new = head.spec.promotion.metrics
    for metric, minimum in sorted(base.spec.promotion.metrics.items()):
        if metric not in new:
            notes.append(f"promotion gate on {metric} removed (was >= {number(minimum)})")
        elif new[metric] < minimum:
            notes.append(
                f"promotion gate {metric} lowered >= {number(minimum)} -> >= {number(new[metric])}"
            )
    return notes


def _runtime(base: AnySpec | None, head: AnySpec | None) -> list[str]:
    if isinstance(base, ModelDeployment) and isinstance(head, ModelDeployment):
        old, new = base.spec.runtime, head.spec.runtime
        if old != new:
            return [f"runtime {old} -> {new}: serving objects are replaced, not updated"]
    if isinstance(base, TrainingJob) and isinstance(head, TrainingJob):
        old, new = base.spec.backend, head.spec.backend
        if old != new:
            return [f"backend {old} -> {new}: runs use another controller"]
    return []
