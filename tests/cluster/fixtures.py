"""Fixtures (a pytest plugin, loaded by tests/conftest.py): ``cluster`` and ``real_cluster``.

``cluster`` runs each test that takes it twice: on a fresh sandbox, and on the run's real
control plane (one for all xdist workers, tests/cluster/shared.py). A test marked ``sandbox_only`` runs on the sandbox alone. Without the
built binaries (`hack/local-cluster build`) the real runs are skipped with one reason; under
CI=true that is a failure instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from reconciler_sandbox.core import Sandbox
from reconciler_sandbox.testing import running_sandbox
from tests.cluster.real import BOOT_TIMEOUT, RealCluster, Unavailable, up_command
from tests.cluster.shared import SharedBooting, run_directory, shared_real_cluster
from tests.waiting import wait_for

SANDBOX_ONLY = "sandbox_only"


class Cluster:
    """What an end-to-end test needs from either cluster."""

    def __init__(self, name: str, kubeconfig_path: Path, sandbox: Sandbox | None = None) -> None:
        self.name = name
        self.kubeconfig_path = kubeconfig_path
        self.sandbox = sandbox
        """The sandbox's controls (faults, counters, rules); None on the real control plane."""
        self._clients: list[Any] = []
        self._made: list[str] = []

    @property
    def real(self) -> bool:
        return self.sandbox is None

    def api_client(self) -> Any:
        if self.sandbox is not None:
            return self.sandbox.api_client()
        api = k8s_config.new_client_from_config(config_file=str(self.kubeconfig_path))
        self._clients.append(api)
        return api

    def namespace(self, name: str | None = None) -> str:
        """A namespace for this test alone, deleted when the test ends: a new unique one, or
        ``name`` (deleted first if an earlier test left it). On the real control plane it is
        ready for pods when this returns."""
        api = self.api_client()
        core = k8s.CoreV1Api(api)
        if name is None:
            name = f"t-{secrets.token_hex(4)}"
        elif not _gone(core, name):
            if self.real:
                _empty(api, name)
            core.delete_namespace(name)
            wait_for(lambda: _gone(core, name), 60, 0.1, what=f"namespace {name} deleted")
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
        self._made.append(name)
        if self.real:
            # Pods are refused until the service-account controller has made "default".
            wait_for(lambda: not _no_account(core, name), 30, 0.05, what=f"{name}'s ServiceAccount")
        return name

    def close(self) -> None:
        if self.real and self._made:
            # Without waiting: the namespace controller takes 5 s or more to empty one, and
            # nothing later looks at it (a later test's namespace has another name).
            core = k8s.CoreV1Api(self.api_client())
            for name in self._made:
                core.delete_namespace(name, propagation_policy="Background")
        for api in self._clients:
            api.close()


def _empty(api: Any, namespace: str) -> None:
    """Delete what makes pods, then the pods without a grace period: the namespace controller
    otherwise waits out each pod's 30-second grace period before the namespace goes."""
    background = {"propagation_policy": "Background"}
    k8s.AppsV1Api(api).delete_collection_namespaced_deployment(namespace, **background)
    k8s.AppsV1Api(api).delete_collection_namespaced_replica_set(namespace, **background)
    k8s.BatchV1Api(api).delete_collection_namespaced_job(namespace, **background)
    k8s.CoreV1Api(api).delete_collection_namespaced_pod(namespace, grace_period_seconds=0)


def _gone(core: Any, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def _no_account(core: Any, namespace: str) -> bool:
    try:
        core.read_namespaced_service_account("default", namespace)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SANDBOX_ONLY}(reason): runs on the sandbox alone; it drives the sandbox's own controls",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        on_real = _param(item) == "real"
        (drop if on_real and item.get_closest_marker(SANDBOX_ONLY) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # The tests on the real control plane last (a stable sort), so that it boots meanwhile.
    items[:] = sorted(keep, key=_needs_real)


def _param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("cluster")


def _needs_real(item: pytest.Item) -> bool:
    return _param(item) == "real" or "real_cluster" in getattr(item, "fixturenames", ())


@pytest.fixture(scope="session", autouse=True)
def real_cluster_boot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], SharedBooting]]:
    """Joins the run's real control plane (starting it when this worker is the first) at the
    first test when any test selected needs it, so that it boots while the others run; the last
    worker to finish stops it."""
    with contextlib.ExitStack() as stack:
        started: list[SharedBooting] = []

        def boot() -> SharedBooting:
            if not started:
                directory = run_directory(tmp_path_factory) / "real-cluster"
                shared = shared_real_cluster(directory, up_command(directory), BOOT_TIMEOUT)
                started.append(stack.enter_context(shared))
            return started[0]

        if any(_needs_real(item) for item in request.session.items):
            boot()
        yield boot


@pytest.fixture(scope="session")
def real_cluster(real_cluster_boot: Callable[[], SharedBooting]) -> RealCluster:
    """The run's real control plane, once it serves."""
    try:
        return real_cluster_boot().ready()
    except Unavailable as why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the real-cluster tests, but: {why}")
        pytest.skip(f"no real control plane here: {why}")


@pytest.fixture
def sandbox_crds() -> Path | None:
    """The CRDs the sandbox loads: none, unless a test module overrides this fixture. (The real
    control plane always has ../shared/crds, when present.)"""
    return None


@pytest.fixture(params=["sandbox", "real"])
def cluster(request: pytest.FixtureRequest, sandbox_crds: Path | None) -> Iterator[Cluster]:
    if request.param == "sandbox":
        with running_sandbox(crds_dir=sandbox_crds, deployment_delay=0.05) as sandbox:
            chosen = Cluster("sandbox", sandbox.kubeconfig_path, sandbox)
            yield chosen
            chosen.close()
    else:
        real = request.getfixturevalue("real_cluster")
        chosen = Cluster("real", real.kubeconfig_path)
        yield chosen
        chosen.close()
