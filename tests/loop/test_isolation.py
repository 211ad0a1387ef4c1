"""One broken spec, one missing CRD or one sweeping commit never costs the others anything."""

from __future__ import annotations

import pytest
import yaml

from tests.loop.harness import serving
from tests.waiting import wait_for

SPECS = {
    "models/a.yaml": serving("model-a"),
    "models/b.yaml": serving("model-b"),
}


def test_invalid_spec_is_reported_with_its_line_and_others_apply(loop):
    broken = loop.text(serving("model-bad")).replace("replicas: 1", "replicas: 1\n  replicaz: 2")
    loop.commit({**SPECS, "models/bad.yaml": broken})
    loop.start()
    loop.wait_phase("ModelDeployment", "model-a", "Ready")
    status = loop.wait_phase("ModelDeployment", "model-bad", "Invalid")
    assert "models/bad.yaml:" in status["message"]
    assert "unknown field 'replicaz'" in status["message"]
    assert status["conditions"][0]["reason"] == "InvalidSpec"


@pytest.mark.sandbox_only("needs a cluster without KServe's CRD")
def test_spec_needing_a_missing_crd_fails_clearly_and_others_apply(loop):
    kserve = serving("model-k", runtime="kserve", format="sklearn")
    loop.commit({**SPECS, "models/k.yaml": kserve})
    loop.start()
    loop.wait_phase("ModelDeployment", "model-a", "Ready")
    status = loop.wait_phase("ModelDeployment", "model-k", "Failed")
    assert status["message"] == (
        "kserve is not installed: InferenceService (serving.kserve.io/v1beta1) "
        "not served by this cluster"
    )


def test_a_commit_deleting_every_spec_is_held_by_the_guard(loop):
    loop.commit(SPECS)
    loop.start()
    loop.wait_phase("ModelDeployment", "model-b", "Ready")
    head = loop.commit({"models/a.yaml": None, "models/b.yaml": None}, "oops")
    loop.reconciled(head)
    loop.idle()
    repository = wait_for(
        lambda: (yaml.safe_load(loop.status_files()["repository.yaml"]) or {}).get("pruneGuard"),
        what="guard reported",
    )
    assert repository["held"] is True
    assert "would delete 4 of 4 managed objects" in repository["reason"]
    assert "--max-prune-fraction" in repository["reason"]
    names = {d.metadata.name for d in loop.apps.list_namespaced_deployment(loop.namespace).items}
    assert names == {"model-a", "model-b"}
    # The specs' last status stays while their objects run.
    assert loop.status("ModelDeployment", "model-a")["phase"] == "Ready"


def test_a_file_that_stops_parsing_keeps_its_objects(loop):
    loop.commit({**SPECS, "models/c.yaml": serving("model-c")})
    loop.start()
    loop.wait_phase("ModelDeployment", "model-c", "Ready")
    head = loop.commit({"models/c.yaml": "apiVersion: mlops/v1alpha1\nkind: [unclosed\n"})
    loop.reconciled(head)
    loop.idle()
    assert loop.apps.read_namespaced_deployment("model-c", loop.namespace)
    repository = yaml.safe_load(loop.status_files()["repository.yaml"])
    assert [f["file"] for f in repository["unparsableFiles"]] == ["models/c.yaml"]
