"""Engine faults: each test breaks something mid-run and checks that nothing was lost.

Nothing lost means: no object deleted or changed that should not be, the status branch naming
the commit reconciled with every spec's file, and the process still answering /healthz.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from kubernetes import client as k8s

from reconciler.cluster.client import Connection, KubeClient, api_client_for
from reconciler.service import Service
from tests.loop.conftest import loop, sandbox  # noqa: F401 - the loop tests' fixtures
from tests.loop.harness import Loop, serving
from tests.reliability.running import free_port, in_background, probe
from tests.waiting import wait_for

SPECS = {f"models/m{i}.yaml": serving(f"model-{i}") for i in range(3)}
NAMES = {f"model-{i}" for i in range(3)}


def deployments(loop: Loop) -> set[str]:  # noqa: F811
    return {d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items}


def deletions(loop: Loop) -> dict[str, int]:  # noqa: F811
    """Deletions the sandbox served since the test began (see ``counting``)."""
    assert loop.sandbox is not None
    return {k: n for k, n in loop.sandbox.counters().items() if k.startswith("delete")}


def counting(loop: Loop) -> None:  # noqa: F811
    """Count requests from here on: the fixture's own set-up is not the test's doing."""
    if loop.sandbox is not None:
        loop.sandbox.reset_counters()


def assert_consistent(loop: Loop, head: str, ready: set[str]) -> None:  # noqa: F811
    """The status branch names ``head`` and holds a Ready file for every serving spec."""
    loop.reconciled(head)
    for name in ready:
        loop.wait_phase("ModelDeployment", name, "Ready")


class BuggyClient(KubeClient):
    """Raises TypeError on the first ``failures`` applies: a bug, which no real part can be made
    to have on demand. The client is the Service's seam for the cluster; all else is real."""

    def __init__(self, connection: Connection, failures: int) -> None:
        super().__init__(api_client_for(connection))
        self.left = failures
        self.raised_at: list[float] = []

    def request(self, method, path, **kwargs):
        if method == "PATCH" and self.left > 0:
            self.left -= 1
            self.raised_at.append(time.monotonic())
            raise TypeError("'NoneType' object is not subscriptable")
        return super().request(method, path, **kwargs)


def test_unexpected_error_in_a_reconcile_is_logged_counted_and_retried(loop):  # noqa: F811
    # One spec: its first apply raises, so each failing reconcile raises exactly once.
    head = loop.commit({"models/m0.yaml": serving("model-0")})
    settings = loop.settings(metrics_port=0)
    client = BuggyClient(Connection(kubeconfig=settings.cluster.kubeconfig), failures=3)
    service = Service.open(settings, client=client)
    with structlog.testing.capture_logs() as logs, in_background(service):
        wait_for(lambda: client.left == 0, what="three failed reconciles")
        assert probe(service, "/healthz")[0] == 200
        assert_consistent(loop, head, {"model-0"})
        assert deployments(loop) == {"model-0"}
        _, metrics = probe(service, "/metrics")
    failed = [entry for entry in logs if entry["event"] == "reconcile_failed"]
    assert len(failed) == 3
    assert all(entry["exc_info"] is True and entry["error"] == "TypeError" for entry in failed)
    assert 'reconciler_reconcile_errors_total{error="TypeError"} 3.0' in metrics
    # Backoff: 1 s then 2 s, each drawn from its upper half.
    first, second, third = client.raised_at
    assert second - first >= 0.5 and third - second >= 1.0


def test_run_once_exits_2_when_the_repository_cannot_be_fetched(sandbox, tmp_path):  # noqa: F811
    port = free_port()
    result = run_once(
        f"http://127.0.0.1:{port}/specs.git", sandbox.kubeconfig_path, tmp_path, settle=30
    )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("reconciler run --once: cannot fetch branch 'main' from ")


def test_run_once_exits_2_when_the_api_server_stays_unreachable(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    port = free_port()
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: secret-token}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    bare = tmp_path / "specs.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    result = run_once(str(bare), kubeconfig, tmp_path, settle=1)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"reconciler run --once: API server unreachable at 127.0.0.1:{port}: "
        "MaxRetryError: Connection refused"
    )
    assert "secret-token" not in result.stderr


def run_once(repo: str, kubeconfig: Path | None, tmp_path: Path, settle: float):
    env = {
        **os.environ,
        "RECONCILER_REPO": repo,
        "RECONCILER_KUBECONFIG": str(kubeconfig),
        "RECONCILER_CACHE_DIR": str(tmp_path / "cache"),
        "RECONCILER_SETTLE_TIMEOUT": str(settle),
    }
    command = [sys.executable, "-m", "reconciler", "run", "--once"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


class RecordingClient(KubeClient):
    """Notes the path of every request: the sandbox does not enforce RBAC, so a namespaced
    install's least privilege is checked by what it asks for."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(api_client_for(connection))
        self.asked: list[tuple[str, str]] = []

    def request(self, method, path, **kwargs):
        self.asked.append((method, path))
        return super().request(method, path, **kwargs)

    def stream(self, path, query, read_timeout):
        self.asked.append(("WATCH", path))
        return super().stream(path, query, read_timeout)


WATCHED = ("deployments", "services", "horizontalpodautoscalers", "jobs", "pods")


def test_namespaced_install_lists_and_watches_only_its_namespaces(loop):  # noqa: F811
    head = loop.commit(SPECS)
    other = loop.cluster.namespace()
    settings = loop.settings(namespaced=True, allowed_namespaces=f"{loop.namespace},{other}")
    client = RecordingClient(Connection(kubeconfig=settings.cluster.kubeconfig))
    with in_background(Service.open(settings, client=client)):
        assert_consistent(loop, head, NAMES)
    reads = {(verb, path) for verb, path in client.asked if verb in ("GET", "WATCH")}
    collections = {(verb, path) for verb, path in reads if path.rsplit("/", 1)[-1] in WATCHED}
    assert collections == {
        (verb, f"{prefix}/namespaces/{namespace}/{plural}")
        for verb in ("GET", "WATCH")
        for namespace in (loop.namespace, other)
        for prefix, plural in (
            ("/apis/apps/v1", "deployments"),
            ("/api/v1", "services"),
            ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
            ("/apis/batch/v1", "jobs"),
            ("/api/v1", "pods"),
        )
    }


@pytest.mark.sandbox_only("compacts the sandbox's event log and drops its connections")
@pytest.mark.parametrize("fault", ["expired", "dropped"])
def test_watches_expired_or_dropped_mid_run_lose_nothing(loop, fault):  # noqa: F811
    head = loop.commit(SPECS)
    service = loop.start(metrics_port=0)
    assert_consistent(loop, head, NAMES)
    loop.idle()
    counting(loop)
    # Something changes after the deployments' last event, so compaction leaves their watch
    # behind the log.
    loop.core.create_namespaced_config_map(
        loop.namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="unrelated"))
    )
    if fault == "dropped":
        # Every watch that reconnects is cut twice more before one holds.
        loop.sandbox.inject_fault(verb="watch", drop=True, count=12)
    # Compaction ends every open watch with 410 Expired, as etcd's does.
    loop.sandbox.compact()
    wait_for(
        lambda: loop.sandbox.counters().get("watch deployments", 0) >= 1,
        what="the deployment watch started again",
    )
    before = loop.apps.read_namespaced_deployment("model-1", loop.namespace).metadata.uid
    # A hand deletion after the fault is seen, and repaired, only through a working watch.
    loop.apps.delete_namespaced_deployment("model-1", loop.namespace)
    wait_for(
        lambda: (
            "model-1" in deployments(loop)
            and loop.apps.read_namespaced_deployment("model-1", loop.namespace).metadata.uid
            != before
        ),
        timeout=20,
        what="the deleted deployment restored",
    )
    assert deployments(loop) == NAMES
    assert deletions(loop) == {"delete deployments": 1}  # the hand deletion alone
    assert_consistent(loop, head, NAMES)
    assert probe(service, "/healthz")[0] == 200


@pytest.mark.sandbox_only("slows the sandbox's applies")
def test_leader_losing_its_lease_mid_apply_stops_writing(loop):  # noqa: F811
    specs = {f"models/m{i}.yaml": serving(f"model-{i}") for i in range(6)}
    head = loop.commit(specs)
    counting(loop)
    loop.sandbox.inject_fault(verb="patch", resource="deployments", latency=0.3, count=None)
    election = {
        "leader_elect": True,
        "lease_namespace": "default",
        "lease_name": "reliability",
        "lease_duration": 1.0,
        "renew_deadline": 0.6,
        "retry_period": 0.15,
        "apply_concurrency": 1,
    }
    service = loop.start(**election)
    assert service.elector is not None
    wait_for(lambda: deployments(loop), what="the first deployment applied")
    leases = k8s.CoordinationV1Api(loop.api)
    wait_for(lambda: _steal(leases, "reliability"), what="the Lease taken by another holder")
    assert service.elector.lost.wait(5)
    lost_at = loop.sandbox.counters().get("patch deployments", 0)
    commits = loop.status_commits()
    wait_for(lambda: service.engine.busy_since is None, what="the reconcile in flight ended")
    # One apply may have been on the wire as the loss was noticed; none starts after it.
    assert loop.sandbox.counters().get("patch deployments", 0) <= lost_at + 1
    assert len(deployments(loop)) < 6
    assert loop.status_commits() == commits
    assert deletions(loop) == {}
    loop.stop()
    # The next leader finishes the job: every object once, nothing deleted.
    leases.delete_namespaced_lease("reliability", "default")
    loop.sandbox.clear_faults()
    # A lease long enough that a busy machine cannot make this leader lose it as well.
    loop.start(**{**election, "lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 1.0})
    assert_consistent(loop, head, {f"model-{i}" for i in range(6)})
    assert len(deployments(loop)) == 6
    assert deletions(loop) == {"delete leases": 1}  # the test's own


def _steal(leases: k8s.CoordinationV1Api, name: str) -> bool:
    lease = leases.read_namespaced_lease(name, "default")
    now = datetime.now(UTC)
    lease.spec.holder_identity = "another-replica"
    lease.spec.acquire_time = lease.spec.renew_time = now
    lease.spec.lease_duration_seconds = 60
    try:
        leases.replace_namespaced_lease(name, "default", lease)
    except k8s.ApiException as exc:
        if exc.status == 409:  # renewed meanwhile: read it again
            return False
        raise
    return True


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MiB tmpfs: the disk that fills up. Mounting needs root, which tests here have."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    # Unbuffered: a buffered file would retry its leftover bytes on close and raise there.
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_disk_full_in_the_cache_directory_loses_nothing(loop, small_disk):  # noqa: F811
    head = loop.commit(SPECS)
    counting(loop)
    service = loop.start(metrics_port=0, cache_dir=small_disk / "cache")
    assert_consistent(loop, head, NAMES)
    loop.idle()
    filler = fill(small_disk)
    later = loop.commit({"models/late.yaml": serving("model-late")})
    _, why = wait_for(
        lambda: (found := probe(service, "/readyz"))[0] == 503 and found,
        what="not ready while the disk is full",
    )
    assert "No space left on device" in why
    assert probe(service, "/healthz")[0] == 200
    assert deployments(loop) == NAMES
    filler.unlink()
    service.engine.trigger("commit")
    assert_consistent(loop, later, NAMES | {"model-late"})
    assert deployments(loop) == NAMES | {"model-late"}
    wait_for(lambda: probe(service, "/readyz")[0] == 200, what="ready once space is back")
    if loop.sandbox is not None:
        assert deletions(loop) == {}
