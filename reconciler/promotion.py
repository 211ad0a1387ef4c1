"""What promotion remembers between reconciles: runs pinned by serving, and gate notes.

``reconciler.lifecycle`` decides, for one serving spec, which run it serves and which newer runs
it passed over. Two things follow from those decisions and outlive the reconcile that made them:

- **pins**: a run a serving spec serves is kept from history pruning (``runs_to_keep``) for as
  long as it is served, and released as soon as that spec serves something else or goes away;
- **gate notes**: the training or pipeline spec's own status says, on each run, which serving
  specs passed it over and why (``notPromoted``).

Pure: no client, no clock; only the engine's worker touches a ``Promotions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.specs.loaded import SpecKey
from reconciler.status.assemble import Outcome

ServedRun = tuple[str, str, str, str]  # (source kind, namespace, name, run)
Rejection = tuple[SpecKey, str, str]  # (source, run, why)


class Promotions:
    def __init__(self) -> None:
        self._served: dict[SpecKey, tuple[ServedRun, ...]] = {}  # serving spec -> its runs
        # source -> run -> serving spec name -> why it passed the run over
        self._notes: dict[SpecKey, dict[str, dict[str, str]]] = {}
        self._pins: dict[SpecKey, set[str]] = {}

    def begin(self) -> None:
        """Index the pins once per reconcile, not per spec: a resync of thousands of specs
        stays linear, and every spec of one reconcile sees the pins as it began."""
        self._pins = {}
        for served in self._served.values():
            for kind, namespace, name, run in served:
                self._pins.setdefault(SpecKey(kind, namespace, name), set()).add(run)

    def pinned(self, source: SpecKey) -> set[str]:
        """Runs of ``source`` that some serving spec served as this reconcile began."""
        return self._pins.get(source, set())

    def notes(self, source: SpecKey) -> Mapping[str, Mapping[str, str]]:
        """Run -> serving spec name -> why that spec passed the run over."""
        return self._notes.get(source, {})

    def record(
        self, key: SpecKey, served: tuple[ServedRun, ...], rejections: Iterable[Rejection]
    ) -> None:
        """What ``key`` serves now, and (a serving spec) which runs it passed over."""
        if served:
            self._served[key] = served
        else:
            self._served.pop(key, None)
        if key.kind != "ModelDeployment":
            return
        for runs in self._notes.values():
            for notes in runs.values():
                notes.pop(key.name, None)
        for source, run, why in rejections:
            self._notes.setdefault(source, {}).setdefault(run, {})[key.name] = why

    def forget(self, key: SpecKey) -> None:
        """``key`` is gone: what it served is no longer pinned."""
        self._served.pop(key, None)

    def annotate(self, outcome: Outcome) -> Outcome:
        """Say on each run of ``outcome`` which serving specs passed it over, and why."""
        notes = self.notes(outcome.key)
        if not notes:
            return outcome
        extra: dict[str, Any] = dict(outcome.extra)
        for field_name in ("runs", "steps"):
            entries = []
            for entry in extra.get(field_name) or ():
                why = notes.get(entry.get("name")) or notes.get(entry.get("run"))
                if why:
                    entry = {**entry, "notPromoted": dict(sorted(why.items()))}
                entries.append(entry)
            if entries:
                extra[field_name] = entries
        return replace(outcome, extra=extra)
