from collections.abc import Iterator

import pytest

from tests.cluster.fixtures import Cluster
from tests.cluster.real import RealCluster
from tests.loop.conftest import loop  # noqa: F401 - the loop tests' fixture, on this cluster


@pytest.fixture
def cluster(real_cluster: RealCluster) -> Iterator[Cluster]:
    """The session's real control plane only: these tests check it, not the sandbox."""
    chosen = Cluster("real", real_cluster.kubeconfig_path)
    yield chosen
    chosen.close()
