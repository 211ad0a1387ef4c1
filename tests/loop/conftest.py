import pytest

from reconciler_sandbox.testing import running_sandbox
from tests.loop.harness import running_loop


@pytest.fixture
def sandbox():
    with running_sandbox(deployment_delay=0.05) as running:
        yield running


@pytest.fixture
def loop(tmp_path, cluster):
    with running_loop(tmp_path, cluster) as running:
        yield running
