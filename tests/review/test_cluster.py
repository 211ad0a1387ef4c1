"""``plan --kubeconfig`` against the sandbox API server: drift made by hand shows as the change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reconciler.cluster.client import APPLY_PATCH, MERGE_PATCH, Connection, KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.review import render_side
from reconciler.review.model import Revision
from reconciler.specs.loader import load_directory
from reconciler_sandbox.testing import running_sandbox

DEPLOYMENT = "/apis/apps/v1/namespaces/ml-team/deployments/fraud-detector"
FORMATS = ("text", "markdown", "json")


@pytest.fixture
def cluster(repo) -> Iterator[tuple[str, KubeClient]]:
    """A sandbox holding exactly what the repository's HEAD renders, applied as the reconciler
    applies it; the repository gets a second commit that changes no spec."""
    with running_sandbox() as sandbox:
        kubeconfig = str(sandbox.write_kubeconfig(repo.path.parent / "kubeconfig"))
        client = KubeClient.connect(Connection(kubeconfig=kubeconfig))
        try:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-team"}}
            client.request("POST", "/api/v1/namespaces", body=namespace)
            head = render_side(Revision("HEAD", None), load_directory(repo.path), "f" * 40)
            discovery = Discovery(client)
            for manifests in head.rendered.values():
                for manifest in manifests:
                    meta = manifest["metadata"]
                    resource = discovery.resource(manifest["apiVersion"], manifest["kind"])
                    client.request(
                        "PATCH",
                        resource.object_path(meta["name"], meta["namespace"]),
                        query={"fieldManager": "reconciler", "force": "true"},
                        body=manifest,
                        content_type=APPLY_PATCH,
                    )
            repo.write("README.md", "no spec changes\n")
            repo.commit()
            yield kubeconfig, client
        finally:
            client.close()


def test_in_sync_cluster_has_no_changes(cluster, plan):
    kubeconfig, _ = cluster

    outcome = plan("--kubeconfig", kubeconfig, "--exit-code", "--format", "json")

    document = json.loads(outcome.out)
    assert document["cluster"] is True
    assert document["specs"] == []
    assert outcome.code == 0


def test_hand_made_drift_shows_as_the_change(cluster, plan):
    kubeconfig, client = cluster
    client.request(
        "PATCH",
        DEPLOYMENT,
        query={"fieldManager": "kubectl-edit"},
        body={"spec": {"replicas": 7}},
        content_type=MERGE_PATCH,
    )

    outcome = plan("--kubeconfig", kubeconfig, "--exit-code", "--format", "json")

    assert outcome.code == 1
    (serving,) = json.loads(outcome.out)["specs"]
    assert (serving["name"], serving["change"]) == ("fraud-detector", "drifted")
    assert serving["happens"] == ["Deployment fraud-detector differs from Git and will be updated"]
    (deployment,) = serving["objects"]
    assert deployment["kind"] == "Deployment"
    assert deployment["action"] == "unchanged"  # the same in both commits...
    assert deployment["cluster"] == {  # ...but not in the cluster
        "action": "update",
        "message": "",
        "fields": [{"path": "spec.replicas", "live": "hidden", "after": 2}],
    }
    text = plan("--kubeconfig", kubeconfig).out
    assert "~ ModelDeployment ml-team/fraud-detector  drifted" in text
    assert "      cluster: update\n        spec.replicas: (live value, not shown) -> 2\n" in text
    markdown = plan("--kubeconfig", kubeconfig, "--format", "markdown").out
    assert "In the cluster (server-side dry run against the live objects):" in markdown
    assert "- spec.replicas: (live value, not shown)\n+ spec.replicas: 2\n" in markdown


def test_a_live_value_never_reaches_the_plan(cluster, plan):
    kubeconfig, client = cluster
    secret = "postgres://app:hunter2-s3cret@db.internal:5432/fraud"
    client.request(
        "PATCH",
        DEPLOYMENT,
        query={"fieldManager": "kubectl-edit", "force": "true"},
        body={
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "fraud-detector", "namespace": "ml-team"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "server", "env": [{"name": "LOG_LEVEL", "value": secret}]}
                        ]
                    }
                }
            },
        },
        content_type=APPLY_PATCH,
    )

    outputs = [plan("--kubeconfig", kubeconfig, "--format", f).out for f in FORMATS]

    field = "spec.template.spec.containers[name=server].env[name=LOG_LEVEL].value"
    for output in outputs:
        assert field in output  # the drift is named...
        assert "hunter2" not in output  # ...its live value is not


def test_dry_run_changes_nothing(cluster, plan):
    kubeconfig, client = cluster
    client.request(
        "PATCH",
        DEPLOYMENT,
        query={"fieldManager": "kubectl-edit"},
        body={"spec": {"replicas": 7}},
        content_type=MERGE_PATCH,
    )

    plan("--kubeconfig", kubeconfig)

    assert client.request("GET", DEPLOYMENT)["spec"]["replicas"] == 7


def test_git_change_and_deleted_object_against_the_cluster(cluster, repo, plan):
    kubeconfig, _ = cluster
    repo.edit("models/fraud-detector.yaml", "replicas: 2", "replicas: 3")
    repo.remove("pipelines/churn.yaml")
    repo.commit()

    document = json.loads(plan("--kubeconfig", kubeconfig, "--format", "json").out)

    specs = {spec["name"]: spec for spec in document["specs"]}
    (deployment,) = [o for o in specs["fraud-detector"]["objects"] if o["kind"] == "Deployment"]
    assert deployment["cluster"]["action"] == "update"
    assert {"path": "spec.replicas", "live": "hidden", "after": 3} in deployment["cluster"][
        "fields"
    ]
    assert {o["cluster"]["action"] for o in specs["churn"]["objects"]} == {"delete"}


def test_kind_the_cluster_does_not_serve_is_an_error(cluster, repo, plan):
    kubeconfig, _ = cluster
    repo.edit("models/fraud-detector.yaml", "format: sklearn", "format: sklearn\n  runtime: kserve")
    repo.commit()

    outcome = plan("--kubeconfig", kubeconfig, "--format", "json")

    assert outcome.code == 1
    (error,) = json.loads(outcome.out)["clusterErrors"]
    assert error.startswith("serving.kserve.io/v1beta1 InferenceService ml-team/fraud-detector: ")
    assert "kserve is not installed" in error


def test_unreachable_cluster_is_2(repo, plan, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )

    outcome = plan("--kubeconfig", str(kubeconfig))

    assert outcome.code == 2
    assert "cannot reach the cluster" in outcome.err
