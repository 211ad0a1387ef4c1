"""A canary under analysis on the real control plane: the real Deployment controller scales
the stable and canary Deployments as the weight steps up (kwok stands in for the kubelets), and
a real Prometheus scrapes the metrics the test's exporter serves for them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kubernetes import client as k8s

from tests.delivery.prometheus import GOOD
from tests.delivery.test_progressive import (
    CANARY,
    NAME,
    history,
    scorer,
    serve,
    wait_analysis,
    weights,
)
from tests.loop.harness import Loop
from tests.waiting import wait_for

Split = tuple[int | None, int | None]  # (stable, canary) replicas asked for; None: no Deployment


@dataclass
class Splits:
    """Every distinct (stable, canary) replica split seen, in order, polled every few ms."""

    seen: list[Split] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def watching_splits(apps: k8s.AppsV1Api, namespace: str) -> Iterator[Splits]:
    splits = Splits()

    def poll() -> None:
        while not splits.stop.wait(0.01):
            listed = apps.list_namespaced_deployment(namespace).items
            found = {d.metadata.name: d.spec.replicas for d in listed}
            split = (found.get(NAME), found.get(f"{NAME}-canary"))
            if split != (None, None) and (not splits.seen or splits.seen[-1] != split):
                splits.seen.append(split)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield splits
    finally:
        splits.stop.set()
        thread.join(5)


def test_a_good_canary_is_promoted_step_by_step_with_the_replicas(
    loop: Loop, exporter, prometheus
) -> None:
    serve(exporter, prometheus, loop, GOOD)
    loop.commit({"models/scorer.yaml": scorer([25, 50], failure_limit=3)})
    with watching_splits(loop.apps, loop.namespace) as splits:
        loop.start(prometheus_url=prometheus.url)
        final = wait_analysis(loop, timeout=35, phase="Promoted")
        status = loop.wait_phase("ModelDeployment", NAME, "Ready", timeout=20)
        wait_for(
            lambda: splits.seen[-1:] == [(4, None)], 20, 0.05, what="the canary Deployment pruned"
        )

    passed = [check["weight"] for check in final["checks"] if check["verdict"] == "Pass"]
    assert passed == [25, 50]
    assert weights(history(loop)) == [25, 50, 100]
    # 4 replicas: 25% is 3 + 1 pods, 50% is 2 + 2, then the stable Deployment alone serves the
    # canary's model with all 4. Each split in that order, and the canary never shrinks.
    steps = [(3, 1), (2, 2), (4, None)]
    assert [split for split in splits.seen if split in steps] == steps
    canary = [c for _, c in splits.seen if c is not None]
    assert canary == sorted(canary) and max(canary) == 2
    assert status["model"]["uri"] == CANARY and "canary" not in status
    stable = loop.apps.read_namespaced_deployment(NAME, loop.namespace)
    env = {e.name: e.value for e in stable.spec.template.spec.containers[0].env}
    assert env["MODEL_URI"] == CANARY
    assert stable.status.ready_replicas == 4
