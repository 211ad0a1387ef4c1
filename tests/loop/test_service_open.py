"""Assembling a service: construction does no I/O; ``Service.open`` reads, fetches and connects."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from reconciler.errors import PermanentApiError
from reconciler.service import Service


def test_the_status_branch_comes_from_the_repository_at_open(loop):
    loop.commit({"reconciler.yaml": "statusBranch: deployments\n"})
    service = Service.open(loop.settings())
    try:
        assert service.status.branch == "deployments"
    finally:
        service.stop()


def test_api_errors_are_counted_by_reason(loop):
    loop.commit({"README.md": "specs\n"})
    service = Service.open(loop.settings())
    try:
        with pytest.raises(PermanentApiError):
            service.client.request("GET", "/api/v1/namespaces/not-there")
        exposed = generate_latest(service.metrics.registry).decode()
        assert 'reconciler_api_errors_total{reason="NotFound"} 1.0' in exposed
    finally:
        service.stop()
