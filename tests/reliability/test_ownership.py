"""Ownership: an installation writes to and deletes only objects it created itself.

Findings reproduced: a ModelDeployment named after an existing Service took that Service over
(1); a hand-made object with the reconciler's labels copied onto it was pruned, and two
installations on one cluster pruned each other's objects (2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from reconciler import labels
from tests.loop.harness import Loop, running_loop, serving
from tests.waiting import wait_for

MANAGED_LABELS = {
    labels.MANAGED_BY: labels.MANAGER,
    labels.SPEC_KIND: "ModelDeployment",
    labels.SPEC_NAME: "model-a",
}


@pytest.fixture
def loop(tmp_path, cluster) -> Iterator[Loop]:
    with running_loop(tmp_path / "a", cluster) as running:
        yield running


def kube_dns_spec(**spec: Any) -> str:
    body = {"model": {"uri": "s3://models/m/1"}, "image": "ghcr.io/acme/server:1.0", **spec}
    document = {
        "apiVersion": "mlops/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": body,
    }
    return yaml.safe_dump(document, sort_keys=False)


def make_kube_dns(loop: Loop) -> k8s.V1Service:
    """The cluster DNS Service as an add-on manager leaves it (kube-system exists already)."""
    service = k8s.V1Service(
        metadata=k8s.V1ObjectMeta(
            name="kube-dns", labels={"k8s-app": "kube-dns", labels.MANAGED_BY: "addon-manager"}
        ),
        spec=k8s.V1ServiceSpec(
            selector={"k8s-app": "kube-dns"},
            ports=[k8s.V1ServicePort(name="dns", port=53, protocol="UDP", target_port=53)],
        ),
    )
    return loop.core.create_namespaced_service(
        "kube-system", service, field_manager="kube-addon-manager"
    )


def spec_status(loop: Loop, namespace: str, name: str) -> dict[str, Any] | None:
    raw = loop.status_files().get(f"{namespace}/modeldeployment/{name}.yaml")
    return None if raw is None else yaml.safe_load(raw)


def no_deployment(loop: Loop, namespace: str, name: str) -> bool:
    items = loop.apps.list_namespaced_deployment(namespace).items
    return all(d.metadata.name != name for d in items)


@pytest.mark.sandbox_only("makes its own kube-system/kube-dns")
def test_a_spec_never_takes_over_an_object_it_does_not_own(loop):
    before = make_kube_dns(loop)
    head = loop.commit({"models/a.yaml": serving("model-a"), "dns.yaml": kube_dns_spec()})
    loop.start(allowed_namespaces=f"kube-system,{loop.namespace}")
    loop.wait_phase("ModelDeployment", "model-a", "Ready")
    loop.reconciled(head)
    status = wait_for(lambda: spec_status(loop, "kube-system", "kube-dns"), what="status")
    assert status["phase"] == "Failed"
    assert status["conditions"][0]["reason"] == "NotOwned"
    assert "Service kube-system/kube-dns already exists" in status["message"]
    assert "kube-addon-manager" in status["message"]
    assert "spec.adopt" in status["message"]
    # Nothing was written for the spec: the Service is as it was, no Deployment was made.
    after = loop.core.read_namespaced_service("kube-dns", "kube-system")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec.selector == {"k8s-app": "kube-dns"}
    assert no_deployment(loop, "kube-system", "kube-dns")
    # Removing the spec removes nothing either.
    loop.reconciled(loop.commit({"dns.yaml": None}, "drop the dns spec"))
    loop.idle()
    assert loop.core.read_namespaced_service("kube-dns", "kube-system").spec.selector == {
        "k8s-app": "kube-dns"
    }


@pytest.mark.sandbox_only("makes its own kube-system/kube-dns")
def test_adopt_takes_an_existing_object_over_and_says_so(loop):
    make_kube_dns(loop)
    loop.commit({"dns.yaml": kube_dns_spec(adopt=True)})
    loop.start(allowed_namespaces=f"kube-system,{loop.namespace}")
    status = wait_for(
        lambda: (
            (found := spec_status(loop, "kube-system", "kube-dns"))
            and found["phase"] == "Ready"
            and found
        ),
        timeout=15,
        what="the adopting spec ready",
    )
    assert "adopted Service kube-system/kube-dns (managed by" in status["message"]
    assert status["adopted"] == [
        "Service kube-system/kube-dns (managed by app.kubernetes.io/managed-by=addon-manager, "
        "kube-addon-manager)"
    ]
    service = loop.core.read_namespaced_service("kube-dns", "kube-system")
    instance = loop.service.settings.instance()
    assert service.metadata.labels[labels.INSTANCE] == instance
    assert service.metadata.annotations[labels.TRACKING_ID] == (
        f"{instance}:/Service:kube-system/kube-dns"
    )


def test_labels_copied_onto_a_hand_made_object_do_not_make_it_ours(loop):
    loop.commit({"models/a.yaml": serving("model-a"), "models/b.yaml": serving("model-b")})
    loop.start()
    loop.wait_phase("ModelDeployment", "model-a", "Ready")
    ours = loop.apps.read_namespaced_deployment("model-a", loop.namespace)
    other_team = loop.cluster.namespace()
    # One copies the three labels, another our instance label and tracking id too.
    loop.apps.create_namespaced_deployment(other_team, hand_made("copied", MANAGED_LABELS))
    loop.apps.create_namespaced_deployment(
        other_team,
        hand_made(
            "model-a",
            {**MANAGED_LABELS, labels.INSTANCE: ours.metadata.labels[labels.INSTANCE]},
            {labels.TRACKING_ID: ours.metadata.annotations[labels.TRACKING_ID]},
        ),
    )
    resync(loop)
    resync(loop)
    names = {d.metadata.name for d in loop.apps.list_namespaced_deployment(other_team).items}
    assert names == {"copied", "model-a"}
    assert loop.apps.read_namespaced_deployment("copied", other_team).spec.replicas == 3


def test_two_installations_never_touch_each_others_objects(tmp_path, cluster):
    with (
        running_loop(tmp_path / "a", cluster) as first,
        running_loop(tmp_path / "b", cluster, first.namespace) as second,
    ):
        first.commit({f"models/a{i}.yaml": serving(f"a-{i}") for i in range(2)})
        second.commit({"models/b.yaml": serving("b-0")})
        first.start()
        second.start()
        first.wait_phase("ModelDeployment", "a-1", "Ready")
        second.wait_phase("ModelDeployment", "b-0", "Ready")
        assert first.service.settings.instance() != second.service.settings.instance()
        # The second repository declares a spec the first one already serves.
        head = second.commit({"models/clash.yaml": serving("a-0", replicas=4)})
        second.reconciled(head)
        clash = second.wait_phase("ModelDeployment", "a-0", "Failed")
        # The first object in apply order that belongs to someone else is named: the Service.
        assert f"Service {first.namespace}/a-0 already exists" in clash["message"]
        assert first.apps.read_namespaced_deployment("a-0", first.namespace).spec.replicas == 1
        # Each prunes only its own: the first retires a-1, the second retires its clash.
        first.reconciled(first.commit({"models/a1.yaml": None}))
        second.reconciled(second.commit({"models/clash.yaml": None}))
        wait_for(lambda: no_deployment(first, first.namespace, "a-1"), what="a-1 pruned")
        resync(first)
        resync(second)
        names = {
            d.metadata.name for d in first.apps.list_namespaced_deployment(first.namespace).items
        }
        assert names == {"a-0", "b-0"}
        assert first.apps.read_namespaced_deployment("a-0", first.namespace).spec.replicas == 1


def hand_made(
    name: str, labels_: dict[str, str], annotations: dict[str, str] | None = None
) -> k8s.V1Deployment:
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name, labels=labels_, annotations=annotations),
        spec=k8s.V1DeploymentSpec(
            replicas=3,
            selector=k8s.V1LabelSelector(match_labels={"app": name}),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels={"app": name}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")]),
            ),
        ),
    )


def resync(loop: Loop) -> None:
    """Trigger a full resync and wait until it ran."""
    assert loop.service is not None
    engine = loop.service.engine
    done = engine.reconciles
    engine.trigger("resync")
    wait_for(lambda: engine.reconciles > done, what="a full resync")
    loop.idle()
