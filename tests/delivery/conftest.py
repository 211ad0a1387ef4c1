"""A real Prometheus and exporter per module, and a sandbox with a loop per test."""

from __future__ import annotations

import pytest

from reconciler_sandbox.testing import running_sandbox
from tests.delivery.prometheus import Exporter, Prometheus, require_prometheus
from tests.loop.harness import running_loop


@pytest.fixture(scope="module")
def exporter():
    served = Exporter()
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, exporter):
    require_prometheus()
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{exporter.port}"])
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox():
    with running_sandbox(deployment_delay=0.05) as running:
        yield running


@pytest.fixture
def loop(tmp_path, sandbox):
    with running_loop(tmp_path, sandbox) as running:
        yield running
