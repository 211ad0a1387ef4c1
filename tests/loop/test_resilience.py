"""Faults the loop must ride out: API errors, a vanished remote, push races, a killed process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pygit2
import pytest

from reconciler import labels
from tests.loop.harness import serving, training
from tests.reliability.running import free_port, probe
from tests.source.remotes import git
from tests.waiting import wait_for

SPECS = {f"models/m{i}.yaml": serving(f"model-{i}") for i in range(4)}


def deployments(loop) -> set[str]:
    return {d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items}


@pytest.mark.sandbox_only("injects API faults")
def test_api_error_bursts_are_retried_until_converged(loop):
    loop.sandbox.reset_counters()
    loop.sandbox.inject_fault(verb="patch", resource="deployments", status=500, count=3)
    loop.sandbox.inject_fault(verb="patch", resource="services", status=429, retry_after=0, count=3)
    head = loop.commit(SPECS)
    service = loop.start(metrics_port=0)
    for i in range(4):
        loop.wait_phase("ModelDeployment", f"model-{i}", "Ready", timeout=20)
    loop.reconciled(head)
    assert deployments(loop) == {f"model-{i}" for i in range(4)}
    counters = loop.sandbox.counters()
    assert counters.get("patch deployments", 0) >= 4 + 3
    # Nothing lost: no deletion, every Service there, the process still live.
    assert not [key for key in counters if key.startswith("delete")]
    services = {s.metadata.name for s in loop.core.list_namespaced_service(loop.namespace).items}
    assert services == {f"model-{i}" for i in range(4)}
    assert probe(service, "/healthz")[0] == 200


def test_watchdog_applies_a_push_without_waiting_for_the_poll(loop):
    loop.commit(SPECS)
    loop.start(interval=600)
    loop.wait_phase("ModelDeployment", "model-0", "Ready")
    loop.idle()
    started = time.monotonic()
    loop.commit({"models/new.yaml": serving("model-new")})
    wait_for(lambda: "model-new" in deployments(loop), timeout=2, what="push applied in 2 s")
    assert time.monotonic() - started < 2


def test_remote_gone_keeps_running_and_recovers(loop):
    loop.commit(SPECS)
    service = loop.start(metrics_port=0)
    loop.wait_phase("ModelDeployment", "model-0", "Ready")
    port = service.server.port
    moved = loop.remote.bare.with_name("moved.git")
    # Renaming a local remote in the middle of a status push would strand its ref lock file,
    # which no Git server leaves behind; holding the engine between reconciles rules that out.
    with service.engine._busy:
        shutil.move(loop.remote.bare, moved)
    service.engine.trigger("poll")

    def ready_status() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    wait_for(lambda: ready_status() == 503, what="not ready while the remote is gone")
    assert deployments(loop) == {f"model-{i}" for i in range(4)}
    with service.engine._busy:
        shutil.move(moved, loop.remote.bare)
    head = loop.commit({"models/late.yaml": serving("model-late")})
    service.engine.trigger("poll")
    wait_for(lambda: "model-late" in deployments(loop), what="recovered after the remote returned")
    loop.reconciled(head)
    wait_for(lambda: ready_status() == 200, what="ready again")

    def metric(prefix: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            lines = response.read().decode().splitlines()
        return next((float(line.split()[-1]) for line in lines if line.startswith(prefix)), 0.0)

    assert metric('reconciler_git_errors_total{operation="fetch"}') >= 1
    # Only model-0 was waited for before the remote went away; the others settle in their time.
    wait_for(
        lambda: metric('reconciler_specs{kind="ModelDeployment",phase="Ready"}') >= 4,
        30,
        what="every model Ready in the metrics",
    )


def test_status_push_race_keeps_both_writers_changes(loop, tmp_path):
    loop.commit(SPECS)
    service = loop.start()
    loop.wait_phase("ModelDeployment", "model-0", "Ready")
    loop.idle()
    other = tmp_path / "other"
    git("clone", "-q", "--branch", "status", str(loop.remote.bare), str(other), cwd=tmp_path)
    (other / "NOTES.md").write_text("kept by another writer\n")
    git("add", "NOTES.md", cwd=other)
    git("commit", "-q", "-m", "another writer", cwd=other)
    # The other writer is polite too: when the reconciler pushed first, it rebases and retries.
    # libgit2 updates a local remote's ref without checking its old value (a Git server checks
    # it), so a paced status push of ours in the same instant could overwrite theirs. Holding
    # the engine between reconciles keeps that instant out; our next push must then replay.
    with service.engine._busy:
        wait_for(lambda: _push_rebasing(other), what="the other writer's push")
    loop.commit({"models/m0.yaml": serving("model-0", replicas=2)})
    wait_for(
        lambda: (
            (loop.status("ModelDeployment", "model-0") or {}).get("replicas", {}).get("desired")
            == 2
        ),
        what="our status pushed on top of the other writer's commit",
    )
    files = loop.status_files()
    assert files["NOTES.md"] == b"kept by another writer\n"
    repo = pygit2.Repository(str(loop.remote.bare))
    messages = [c.message for c in repo.walk(repo.references["refs/heads/status"].target)]
    assert any(m.startswith("another writer") for m in messages)


def _push_rebasing(work) -> bool:
    try:
        git("pull", "-q", "--rebase", "origin", "status", cwd=work)
        git("push", "-q", "origin", "status", cwd=work)
    except AssertionError:
        return False
    return True


@pytest.mark.sandbox_only("injects API latency")
def test_killed_mid_apply_restarts_without_duplicates(loop, tmp_path):
    specs = {**SPECS, "training/t.yaml": training("train-t")}
    head = loop.commit(specs)
    loop.sandbox.reset_counters()
    loop.sandbox.inject_fault(verb="patch", resource="*", latency=0.3, count=None)
    env = {
        **os.environ,
        "RECONCILER_REPO": str(loop.remote.bare),
        "RECONCILER_KUBECONFIG": str(loop.sandbox.kubeconfig_path),
        "RECONCILER_CACHE_DIR": str(tmp_path / "cache"),
        "RECONCILER_APPLY_CONCURRENCY": "1",
    }
    command = [sys.executable, "-m", "reconciler", "run"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(deployments(loop)) >= 1, timeout=20, what="first applies")
        assert len(deployments(loop)) < 4
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    loop.sandbox.clear_faults()
    port = free_port()
    second = subprocess.Popen(
        command, env={**env, "RECONCILER_METRICS_PORT": str(port)}, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: len(deployments(loop)) == 4, timeout=20, what="converged after restart")
        loop.wait_phase("TrainingJob", "train-t", "Succeeded", timeout=20)
        loop.reconciled(head)  # the status branch names the commit, killed writer or not
        for i in range(4):
            loop.wait_phase("ModelDeployment", f"model-{i}", "Ready")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    finally:
        second.terminate()
        assert second.wait(15) == 0
    jobs = loop.batch.list_namespaced_job(loop.namespace, label_selector=labels.RUN_HASH).items
    assert len(jobs) == 1
    assert not [key for key in loop.sandbox.counters() if key.startswith("delete")]
