"""Rendering a pipeline hashes its steps once, not once per step (quadratic for long ones)."""

from __future__ import annotations

import pytest

from reconciler.render import pipeline as pipeline_module
from reconciler.render import render
from reconciler.render.identity import step_hashes
from tests.render.support import context, loaded, pipeline


def test_a_pipeline_is_hashed_once_per_render(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = loaded(pipeline())
    ctx = context(spec)
    calls: list[str] = []

    def counted(flow):
        calls.append(flow.metadata.name)
        return step_hashes(flow)

    monkeypatch.setattr(pipeline_module, "step_hashes", counted)
    jobs = render(spec, ctx)

    assert len(jobs) == 3
    assert calls == ["flow"]
