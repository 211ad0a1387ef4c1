"""Sandboxes for tests: a context manager and a pytest fixture factory.

    from reconciler_sandbox.testing import running_sandbox

    with running_sandbox(deployment_delay=0.05) as sandbox:
        core = kubernetes.client.CoreV1Api(sandbox.api_client())

    # conftest.py
    sandbox = sandbox_fixture(scope="session", deployment_delay=0.05)

Each sandbox listens on a free port with its own token, kubeconfig file and discovery cache, and
shares nothing with any other: no state leaks from one test sandbox into the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler_sandbox.core import Sandbox


@contextmanager
def running_sandbox(
    crds_dir: str | Path | None = None,
    scenario: str | Path | None = None,
    deployment_delay: float = 0.05,
    **options: Any,
) -> Iterator[Sandbox]:
    """A started sandbox with its kubeconfig written; stopped (and its files removed) on exit."""
    sandbox = Sandbox(
        port=0,
        crds_dir=crds_dir,
        scenario_file=scenario,
        deployment_delay=deployment_delay,
        **options,
    )
    sandbox.start()
    try:
        sandbox.write_kubeconfig()
        yield sandbox
    finally:
        sandbox.stop()


def sandbox_fixture(scope: str = "session", **options: Any) -> Any:
    """A pytest fixture yielding a running sandbox; ``options`` go to ``running_sandbox``."""
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    def sandbox() -> Iterator[Sandbox]:
        with running_sandbox(**options) as running:
            yield running

    return sandbox
