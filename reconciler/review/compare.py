"""Two rendered states of a repository -> one SpecChange per spec. Pure.

A side is what one revision says: its load result and the manifests of every valid spec,
rendered with that revision's commit. Objects are paired within a spec by address, except
training runs, which get a new name with every new run: the run of a TrainingJob (or of one
pipeline step) pairs with the run it replaces, so its diff shows what makes the run new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler import diff, labels
from reconciler.diff import FieldChange
from reconciler.errors import RenderError, SpecProblem
from reconciler.inventory import Inventory, ObjectRef, stamp
from reconciler.plan import Action, Change, plan
from reconciler.render import Manifest, RenderContext, render, static_resolver
from reconciler.render.identity import run_hash, step_hashes
from reconciler.review import narrate, risks
from reconciler.review.model import (
    ObjectAction,
    ObjectChange,
    Review,
    Revision,
    SpecChange,
    SpecChangeKind,
)
from reconciler.review.values import comparable
from reconciler.specs.loaded import LoadedSpec, LoadResult, SpecKey
from reconciler.specs.models import AnySpec, ModelDeployment, ModelSource, Pipeline, TrainingJob

NO_COMMIT = "0" * 40


@dataclass(frozen=True)
class Side:
    revision: Revision
    result: LoadResult
    rendered: Mapping[SpecKey, tuple[Manifest, ...]] = field(default_factory=dict)
    render_problems: tuple[SpecProblem, ...] = ()

    @property
    def specs(self) -> dict[SpecKey, LoadedSpec]:
        return {loaded.key: loaded for loaded in self.result.specs}


def render_side(revision: Revision, result: LoadResult, commit: str | None = None) -> Side:
    """Render every valid spec of ``result``; ``commit`` stamps the objects (default: the
    revision's own commit)."""
    source_commit = commit or revision.commit or NO_COMMIT
    rendered: dict[SpecKey, tuple[Manifest, ...]] = {}
    problems: list[SpecProblem] = []
    for loaded in result.specs:
        ctx = RenderContext(source_commit, static_resolver(result.specs, loaded.key.namespace))
        try:
            rendered[loaded.key] = tuple(render(loaded, ctx))
        except RenderError as exc:
            problems.append(SpecProblem(loaded.file, loaded.line, 1, "", f"{loaded.key}: {exc}"))
    return Side(revision, result, rendered, tuple(sorted(problems)))


def compare(base: Side, head: Side) -> Review:
    base_specs, head_specs = base.specs, head.specs
    broken = _broken_at_head(base, head)
    changes = []
    for key in sorted(base_specs.keys() | head_specs.keys() | broken.keys()):
        if key in broken:
            changes.append(broken[key])
        else:
            changes.append(_spec_change(key, base, head))
    return Review(
        base=base.revision,
        head=head.revision,
        specs=_mark_moves(changes),
        errors=tuple(sorted([*head.result.problems, *head.render_problems])),
    )


def _broken_at_head(base: Side, head: Side) -> dict[SpecKey, SpecChange]:
    """Specs head cannot plan: named in a broken document, in a file that failed to load, or
    failing to render. Their objects stay as they are, so they are neither changed nor removed."""
    head_specs = head.specs
    render_failed = {key for key in head_specs if key not in head.rendered}
    keys = set(head.result.invalid) | render_failed
    keys |= {
        key
        for key, loaded in base.specs.items()
        if key not in head_specs and loaded.file in head.result.failed_files
    }
    result = {}
    for key in keys:
        loaded = head_specs.get(key) or base.specs.get(key)
        problems = head.result.invalid.get(key, ())
        file = problems[0].file if problems else loaded.file if loaded else ""
        result[key] = SpecChange(
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            file=file,
            change=SpecChangeKind.INVALID,
            happens=("not planned: the spec has errors at head; its objects are left as they are",),
        )
    return result


def _spec_change(key: SpecKey, base: Side, head: Side) -> SpecChange:
    old, new = base.specs.get(key), head.specs.get(key)
    origin = new or old
    assert origin is not None  # the key came from one of the sides
    old_spec = old.spec if old else None
    new_spec = new.spec if new else None
    fields = tuple(diff.changes(_dump(old_spec), _dump(new_spec))) if old_spec and new_spec else ()
    objects = compare_objects(base.rendered.get(key, ()), head.rendered.get(key, ()))
    switched = _switched(new_spec, key.namespace, base, head) if old_spec else ()
    if old is None:
        change = SpecChangeKind.ADDED
    elif new is None:
        change = SpecChangeKind.REMOVED
    elif fields or switched or any(obj.action is not ObjectAction.UNCHANGED for obj in objects):
        change = SpecChangeKind.CHANGED
    else:
        change = SpecChangeKind.UNCHANGED
    story = narrate.Story(change, old_spec, new_spec, fields, objects, switched)
    return SpecChange(
        kind=key.kind,
        namespace=key.namespace,
        name=key.name,
        file=origin.file,
        change=change,
        fields=fields,
        objects=objects,
        happens=narrate.happens(story) if change is not SpecChangeKind.UNCHANGED else (),
        risks=risks.assess(old_spec, new_spec),
    )


def _dump(spec: AnySpec | None) -> dict[str, Any]:
    return {} if spec is None else spec.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------- serving fed by training


def _switched(
    spec: AnySpec | None, namespace: str, base: Side, head: Side
) -> tuple[ModelSource, ...]:
    """Trained sources of a ModelDeployment whose current run is another one at head."""
    if not isinstance(spec, ModelDeployment):
        return ()
    sources = [spec.spec.model] + ([spec.spec.canary.model] if spec.spec.canary else [])
    return tuple(
        source
        for source in sources
        if source.is_trained
        and _current_run(source, namespace, head) is not None
        and _current_run(source, namespace, base) != _current_run(source, namespace, head)
    )


def _current_run(source: ModelSource, namespace: str, side: Side) -> str | None:
    if source.from_training is not None:
        found = side.specs.get(SpecKey("TrainingJob", namespace, source.from_training.name))
        return run_hash(found.spec) if found and isinstance(found.spec, TrainingJob) else None
    if source.from_pipeline is not None:
        ref = source.from_pipeline
        found = side.specs.get(SpecKey("Pipeline", namespace, ref.name))
        if found is None or not isinstance(found.spec, Pipeline):
            return None
        return step_hashes(found.spec).get(ref.step)
    return None


# ---------------------------------------------------------------- objects


def compare_objects(
    before: Sequence[Manifest], after: Sequence[Manifest]
) -> tuple[ObjectChange, ...]:
    """Plan head's objects against base's as if base were the cluster, then pair each run with
    the run it replaces; sorted by kind and name.

    Base stands in for a cluster that holds exactly what base applied: every base object is
    owned and recorded, so what head no longer renders is a prune.
    """
    old = {ObjectRef.from_object(obj).key: obj for obj in before}
    new = {ObjectRef.from_object(obj).key: obj for obj in after}
    base = [stamp(comparable(obj), _REVIEW) for obj in before]
    head = [stamp(comparable(obj), _REVIEW) for obj in after]
    recorded = Inventory.of(_REVIEW, ((ObjectRef.from_object(obj), "") for obj in base))
    changeset = plan(head, base, inventory=recorded)
    # A new run takes the place of the run of the same step that head no longer renders.
    runs_gone = {_run_slot(old[c.ref.key]): c.ref.key for c in changeset.prunes}
    runs_gone.pop(None, None)
    replaced: set[Any] = set()
    result = []
    for change in changeset:
        key = change.ref.key
        if change.action is Action.PRUNE:
            if key not in replaced:
                result.append(_object_change(change, old[key], None))
        elif change.action is Action.CREATE:
            previous = runs_gone.get(_run_slot(new[key])) if _run_slot(new[key]) else None
            if previous is not None:
                replaced.add(previous)
            result.append(_object_change(change, old.get(previous), new[key]))
        else:
            result.append(_object_change(change, old[key], new[key]))
    return tuple(sorted(result, key=lambda c: (c.kind, c.namespace, c.name, c.api_version)))


# Stamped on both sides so that plan() pairs them: a review has no cluster and no installation.
_REVIEW = "review"


def _run_slot(obj: Manifest) -> tuple[str, ...] | None:
    """Where a run sits in its spec (runs get a new name with every new run), or None."""
    run_labels = obj["metadata"].get("labels") or {}
    if labels.RUN_HASH not in run_labels:
        return None
    group = obj["apiVersion"].rpartition("/")[0]
    return (
        group,
        obj["kind"],
        obj["metadata"]["namespace"],
        run_labels.get(labels.PIPELINE_STEP, ""),
    )


def _object_change(change: Change, before: Manifest | None, after: Manifest | None) -> ObjectChange:
    """``change`` in review words (see ``ObjectAction``), with the fields that differ."""
    shown = after if after is not None else before
    assert shown is not None
    meta = shown["metadata"]
    action = ObjectAction.shown_as(change.action)
    previous = None
    if change.action is Action.CREATE and before is not None:
        action, previous = ObjectAction.REPLACE, before["metadata"]["name"]
    fields: tuple[FieldChange, ...] = ()
    if before is not None and after is not None and action is not ObjectAction.UNCHANGED:
        fields = tuple(diff.changes(comparable(before), comparable(after)))
    return ObjectChange(
        api_version=shown["apiVersion"],
        kind=shown["kind"],
        namespace=meta["namespace"],
        name=meta["name"],
        action=action,
        before=before,
        after=after,
        fields=fields,
        previous_name=previous,
    )


# ---------------------------------------------------------------- namespace moves


def _mark_moves(changes: list[SpecChange]) -> tuple[SpecChange, ...]:
    """A spec moving namespace reads as a removal plus an addition; say so on both."""
    removed = {(c.kind, c.name): c for c in changes if c.change is SpecChangeKind.REMOVED}
    added = {(c.kind, c.name): c for c in changes if c.change is SpecChangeKind.ADDED}
    notes: dict[tuple[str, str, str], str] = {}
    for pair in removed.keys() & added.keys():
        source, target = removed[pair], added[pair]
        note = risks.moved(source.kind, source.name, source.namespace, target.namespace)
        notes[(source.kind, source.namespace, source.name)] = note
        notes[(target.kind, target.namespace, target.name)] = note
    result = []
    for change in changes:
        note = notes.get((change.kind, change.namespace, change.name))
        result.append(replace(change, risks=(note, *change.risks)) if note else change)
    return tuple(result)
