"""The client keeps a connection for each apply in flight, so many applies at once reuse them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.cluster.apply import Writer
from reconciler.cluster.client import Connection, KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler_sandbox.testing import running_sandbox

IN_FLIGHT = 16  # more than the kubernetes client's own pool (5 per core) on a 2-core machine


@pytest.fixture
def client() -> Iterator[KubeClient]:
    with running_sandbox() as sandbox:
        client = KubeClient.connect(Connection(kubeconfig=str(sandbox.kubeconfig_path)))
        try:
            yield client
        finally:
            client.close()


def config_map(batch: int, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"c{batch}-{index}", "namespace": "default"},
        "data": {"k": "v"},
    }


def test_applies_in_flight_reuse_their_connections(client: KubeClient) -> None:
    writer = Writer(client, Discovery(client), concurrency=IN_FLIGHT)
    for batch in range(3):
        results = writer.apply([config_map(batch, i) for i in range(3 * IN_FLIGHT)])
        assert all(result.ok for result in results)
    pool = client._api.rest_client.pool_manager.connection_from_url(client.host)
    # A pool smaller than the applies in flight closes the surplus after every batch, and the
    # next batch opens (and handshakes) them again.
    assert pool.num_connections <= IN_FLIGHT
