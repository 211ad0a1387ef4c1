"""deploy/'s RBAC on a real kube-apiserver: the reconciler, holding only its ServiceAccount's
token, runs a whole cycle with no request refused, and a rule taken away shows as exactly the 403
it causes.

Each test installs deploy/ (rendered by kustomize, as an operator would) under names of its own:
a suffix on every object's name, and its own namespaces in place of reconciler-system, ml-team
and ml-staging. Installs never share a ServiceAccount or a role, so one test's grants cannot
hide another's missing rule. The reconciler then runs in-process (``Service``, as ``reconciler
run`` assembles it) with the environment the Deployment gives its container, a kubeconfig made
from a TokenRequest for that ServiceAccount, and a bare Git remote on disk.

Refusals are counted on both sides: the API server's audit log (every request of a
ServiceAccount outside kube-system: hack/kube/audit-policy.yaml) and its /metrics, and the
reconciler's own logs and metrics.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from reconciler import config
from reconciler.service import Service
from tests.cluster.real import RealCluster
from tests.deploy.conftest import DEPLOY, NAMESPACE, SERVICE_ACCOUNT
from tests.source.remotes import Remote, branch_files
from tests.waiting import wait_for

ALLOWED = ("ml-team", "ml-staging")
ACCURACY = {"accuracy": 0.95}
# The paths of the pod's mounted Secret and emptyDir: outside a pod the test gives its own.
POD_ONLY = {"RECONCILER_TOKEN_FILE", "RECONCILER_WEBHOOK_SECRET_FILE", "RECONCILER_CACHE_DIR"}


# ---------------------------------------------------------------------- installing deploy/


@dataclass
class Install:
    """One install of deploy/ on the real cluster, under names no other test uses."""

    namespace: str  # the reconciler's own: ServiceAccount, Lease, Deployment
    service_account: str
    namespaces: tuple[str, str]  # where the specs go (ml-team, ml-staging in deploy/)
    documents: list[dict[str, Any]]
    kubeconfig: Path  # the ServiceAccount's token and the cluster's CA, nothing else

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def environment(self) -> dict[str, str]:
        """What the Deployment gives its container: the ConfigMap, then its own env."""
        (deployment,) = (d for d in self.documents if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        environ: dict[str, str] = {}
        for source in container.get("envFrom", []):
            (config_map,) = (
                d
                for d in self.documents
                if d["kind"] == "ConfigMap"
                and d["metadata"]["name"] == source["configMapRef"]["name"]
            )
            environ.update(config_map["data"])
        fields = {
            "POD_NAME": f"{deployment['metadata']['name']}-0",
            "POD_NAMESPACE": self.namespace,
        }
        for variable in container.get("env", []):
            value = variable.get("value")
            if value is not None:
                for name, known in fields.items():
                    value = value.replace(f"$({name})", known)
                environ[variable["name"]] = value
        return {k: v for k, v in environ.items() if k not in POD_ONLY}

    def flags(self) -> dict[str, Any]:
        """The container's args, with a kubeconfig in place of --in-cluster."""
        (deployment,) = (d for d in self.documents if d["kind"] == "Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--in-cluster" in args and "--leader-elect" in args, args
        flags: dict[str, Any] = {option.name: None for option in config.OPTIONS}
        flags.update(kubeconfig=str(self.kubeconfig), leader_elect=True)
        return flags


def render(kubectl: Path, work: Path, components: tuple[str, ...], suffix: str) -> str:
    """deploy/ through an overlay of the operator's own, as docs/security.md shows."""
    overlay = work / "overlay"
    overlay.mkdir()
    base = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/{name}" for name in components],
                "nameSuffix": f"-{suffix}",
            }
        )
    )
    done = subprocess.run(
        [str(kubectl), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def without_verb(documents: list[dict[str, Any]], verb: str, group: str, resource: str) -> None:
    """Take ``verb`` on ``group/resource`` out of every role of the install."""
    taken = 0
    for document in documents:
        if document["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in document["rules"]:
            if (
                group in rule["apiGroups"]
                and resource in rule["resources"]
                and verb in rule["verbs"]
            ):
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
                taken += 1
    assert taken, f"no rule grants {verb} on {group or 'core'}/{resource}"


def kubectl_run(real: RealCluster, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(real.kubectl), f"--kubeconfig={real.kubeconfig_path}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def token_kubeconfig(real: RealCluster, token: str, path: Path) -> Path:
    """A kubeconfig with the admin's server and CA and the ServiceAccount's bearer token."""
    admin = yaml.safe_load(real.kubeconfig_path.read_text())
    cluster = dict(admin["clusters"][0]["cluster"])
    if "certificate-authority" in cluster:
        ca = Path(cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "real", "cluster": cluster}],
                "users": [{"name": "reconciler", "user": {"token": token}}],
                "contexts": [
                    {"name": "real", "context": {"cluster": "real", "user": "reconciler"}}
                ],
                "current-context": "real",
            }
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def admin(real_cluster: RealCluster) -> Iterator[Any]:
    api = k8s_config.new_client_from_config(config_file=str(real_cluster.kubeconfig_path))
    yield api
    api.close()


@pytest.fixture
def install(
    real_cluster: RealCluster, admin: Any, tmp_path: Path
) -> Iterator[Callable[..., Install]]:
    """``install(*components, without=(verb, group, resource))``: deploy/ applied, a token
    minted. Everything it made is deleted afterwards, without waiting for namespaces to go."""
    core = k8s.CoreV1Api(admin)
    made: list[tuple[str, tuple[str, ...]]] = []

    def make(
        *components: str, without: tuple[str, str, str] | None = None, spec_namespaces: bool
    ) -> Install:
        # A letter first: "-12e345" is a number to kustomize's YAML 1.2 but is written unquoted
        # by PyYAML's YAML 1.1, so a digits-only suffix broke the render now and then.
        suffix = "r" + secrets.token_hex(3)
        own = f"rbac-{suffix}"
        namespaces = (f"{own}-team", f"{own}-staging")
        text = render(real_cluster.kubectl, tmp_path, components, suffix)
        for old, new in [(NAMESPACE, own), *zip(ALLOWED, namespaces, strict=True)]:
            text = text.replace(old, new)
        documents = [d for d in yaml.safe_load_all(text) if d]
        if without is not None:
            without_verb(documents, *without)
        if spec_namespaces:  # a namespaced install never creates them: the operator does
            for name in namespaces:
                core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
        rendered = yaml.safe_dump_all(documents)
        made.append((rendered, namespaces))
        kubectl_run(real_cluster, "apply", "--server-side", "-f", "-", stdin=rendered)
        account = f"{SERVICE_ACCOUNT}-{suffix}"
        request = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        token = core.create_namespaced_service_account_token(account, own, request).status.token
        kubeconfig = token_kubeconfig(real_cluster, token, tmp_path / f"{account}.kubeconfig")
        return Install(own, account, namespaces, documents, kubeconfig)

    yield make
    for rendered, namespaces in made:
        kubectl_run(
            real_cluster, "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=rendered
        )
        for name in namespaces:
            try:
                core.delete_namespace(name)
            except ApiException as error:
                if error.status != 404:
                    raise


# ---------------------------------------------------------------------- what the server saw


def audited(real: RealCluster, user: str) -> list[dict[str, Any]]:
    """The API server's audit events of ``user``'s requests, one per request: the last stage
    logged (a watch still open has only ResponseStarted)."""
    log = real.directory / "logs" / "audit.log"
    by_id: dict[str, dict[str, Any]] = {}
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] == user:
            by_id[event["auditID"]] = event
    return list(by_id.values())


def request_of(event: dict[str, Any]) -> tuple[str, str, str, str]:
    """Verb, API group, resource and namespace of an audited request ("" where none)."""
    ref = event.get("objectRef", {})
    return event["verb"], ref.get("apiGroup", ""), ref.get("resource", ""), ref.get("namespace", "")


def refusals(event: dict[str, Any]) -> tuple[str, str, str] | None:
    if event.get("responseStatus", {}).get("code") != 403:
        return None
    return request_of(event)[:3]


def server_refusals(admin: Any) -> float:
    """The RBAC refusals kube-apiserver counted in its /metrics: the authorizer's no-opinion and
    denied decisions (made before any handler, so apiserver_request_total never counts them),
    and the create a server-side apply implies, refused inside the handler (403 on verb APPLY
    in apiserver_request_total). Its other 403s are admission's, not RBAC: controllers creating
    in a namespace being deleted."""
    response = admin.call_api("GET", admin.configuration.host + "/metrics")
    response.read()
    total = 0.0
    for family in text_string_to_metric_families(response.data.decode()):
        for sample in family.samples:
            if sample.name == "authorization_attempts_total" and sample.labels["result"] in (
                "no-opinion",
                "denied",
            ):
                total += sample.value
            if (
                sample.name == "apiserver_request_total"
                and sample.labels.get("code") == "403"
                and sample.labels.get("verb") == "APPLY"
            ):
                total += sample.value
    return total


# ---------------------------------------------------------------------- the reconciler's run


@dataclass
class Run:
    """The reconciler running with an install's identity against a bare remote."""

    install: Install
    remote: Remote
    service: Service
    logs: list[dict[str, Any]]
    thread: threading.Thread | None = None

    def commit(self, files: dict[str, str | None], message: str) -> str:
        return self.remote.commit(files, message)

    def status_files(self) -> dict[str, bytes]:
        return branch_files(self.remote.bare, "status")

    def status(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        raw = self.status_files().get(f"{namespace}/{kind.lower()}/{name}.yaml")
        return None if raw is None else yaml.safe_load(raw)

    def wait_phase(
        self, namespace: str, kind: str, name: str, phase: str, timeout: float = 120
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.status(namespace, kind, name)
            return found if found is not None and found["phase"] == phase else None

        try:
            return wait_for(check, timeout, 0.1, what=f"{kind} {namespace}/{name} to be {phase}")
        except AssertionError as exc:
            last = self.status(namespace, kind, name) or {}
            events = [e for e in self.logs if e.get("log_level") in ("warning", "error")]
            raise AssertionError(
                f"{exc}; last status: {last.get('phase')} {last.get('message')!r}; "
                f"warnings: {events[-5:]}"
            ) from None

    def reconciled(self, commit: str, timeout: float = 60) -> None:
        def done() -> bool:
            raw = self.status_files().get("repository.yaml")
            return raw is not None and yaml.safe_load(raw).get("sourceCommit") == commit

        wait_for(done, timeout, 0.1, what=f"{commit[:7]} reconciled")

    def metric(self, name: str, **labels: str) -> float:
        return self.service.metrics.registry.get_sample_value(name, labels) or 0.0

    def forbidden_logs(self) -> list[dict[str, Any]]:
        return [e for e in self.logs if "forbidden" in json.dumps(e, default=str).lower()]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[[Install], Run]]:
    """``run(install)``: the reconciler started with that install's identity and settings."""
    runs: list[Run] = []
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[capture])

    def start(install: Install) -> Run:
        remote = Remote(tmp_path / "git")
        remote.commit({"README.md": "specs\n"}, "start")
        flags = install.flags()
        flags.update(repo=str(remote.bare), cache_dir=str(tmp_path / "cache"))
        service = Service.open(config.load_settings(flags, install.environment()))
        started = Run(install, remote, service, capture.entries)
        runs.append(started)
        service.start(give_up_after=30)
        started.thread = threading.Thread(target=service.run_forever, daemon=True)
        started.thread.start()
        return started

    yield start
    for started in runs:
        started.service.stop()
        if started.thread is not None:
            started.thread.join(10)


def serving(name: str, namespace: str, replicas: int = 1) -> str:
    spec = {"model": {"uri": "s3://models/m/1"}, "image": "ghcr.io/acme/server:1.0"}
    return document("ModelDeployment", name, namespace, {**spec, "replicas": replicas})


def training(name: str, namespace: str) -> str:
    env = {"KWOK_TERMINATION_MESSAGE": json.dumps(ACCURACY)}
    return document("TrainingJob", name, namespace, {"image": "ghcr.io/acme/train:1.0", "env": env})


def document(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> str:
    body = {
        "apiVersion": "mlops/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return yaml.safe_dump(body, sort_keys=False)


def create(run: Run) -> str:
    """The cycle's first commit: two serving specs and a training spec, in both namespaces."""
    team, staging = run.install.namespaces
    return run.commit(
        {
            "models/web.yaml": serving("web", team),
            "models/old.yaml": serving("old", staging),
            "training/train.yaml": training("train", staging),
        },
        "serve web and old, train",
    )


def change(run: Run) -> str:
    """The cycle's second commit: web scaled, old removed (so pruned)."""
    team, _ = run.install.namespaces
    return run.commit(
        {"models/web.yaml": serving("web", team, replicas=2), "models/old.yaml": None},
        "scale web, drop old",
    )


def full_cycle(run: Run, admin: Any) -> None:
    """Create, run a training to its metrics, update, prune, with status pushed at each step."""
    team, staging = run.install.namespaces
    apps = k8s.AppsV1Api(admin)
    run.reconciled(create(run))
    run.wait_phase(team, "ModelDeployment", "web", "Ready")
    run.wait_phase(staging, "ModelDeployment", "old", "Ready")
    trained = run.wait_phase(staging, "TrainingJob", "train", "Succeeded")
    assert trained["runs"][0]["metrics"] == ACCURACY

    run.reconciled(change(run))
    wait_for(
        lambda: apps.read_namespaced_deployment("web", team).spec.replicas == 2,
        30,
        0.1,
        what="web scaled to 2",
    )
    run.wait_phase(team, "ModelDeployment", "web", "Ready")
    wait_for(
        lambda: run.status(staging, "ModelDeployment", "old") is None,
        30,
        0.1,
        what="old's status removed",
    )
    names = [d.metadata.name for d in apps.list_namespaced_deployment(staging).items]
    assert "old" not in names


def assert_nothing_refused(run: Run, real: RealCluster, admin: Any, before: float) -> None:
    events = audited(real, run.install.user)
    assert events, f"the audit log shows no request of {run.install.user}"
    assert [refusals(e) for e in events if refusals(e)] == []
    assert server_refusals(admin) - before == 0
    assert run.forbidden_logs() == []
    assert run.metric("reconciler_api_writes_total", verb="apply", result="error") == 0
    assert run.metric("reconciler_api_writes_total", verb="delete", result="ok") >= 1
    errors = run.service.metrics.reconcile_errors.collect()[0].samples
    assert sum(s.value for s in errors if s.name.endswith("_total")) == 0


# ---------------------------------------------------------------------- the tests


@pytest.fixture(autouse=True)
def alone_on_the_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """kube-apiserver counts refusals for the whole cluster, and one cluster serves every xdist
    worker: no two of these tests may run at once, or one's 403s would count in the other's."""
    lock = tmp_path_factory.getbasetemp().parent / "rbac-real.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def test_the_cluster_wide_install_runs_a_whole_cycle_without_a_403(
    install, run, real_cluster, admin
):
    before = server_refusals(admin)
    installed = install(spec_namespaces=False)  # the reconciler creates the spec namespaces
    running = run(installed)
    full_cycle(running, admin)
    running.service.stop()  # the Lease released: its update is a request too

    assert_nothing_refused(running, real_cluster, admin, before)
    requests = map(request_of, audited(real_cluster, installed.user))
    verbs = {(verb, resource) for verb, _, resource, _ in requests}
    for needed in [
        ("create", "namespaces"),
        ("get", "deployments"),  # the look-up before a create (Writer.lookup)
        ("patch", "deployments"),
        ("delete", "deployments"),
        ("watch", "jobs"),
        ("list", "pods"),
        ("update", "leases"),
    ]:
        assert needed in verbs, f"the cycle never made a {needed} request"


def test_the_namespaced_install_runs_a_whole_cycle_without_a_403(install, run, real_cluster, admin):
    before = server_refusals(admin)
    installed = install("namespaced", spec_namespaces=True)
    running = run(installed)
    full_cycle(running, admin)
    running.service.stop()

    assert_nothing_refused(running, real_cluster, admin, before)
    requests = [request_of(e) for e in audited(real_cluster, installed.user)]
    cluster_wide = [
        (verb, resource)
        for verb, _, resource, namespace in requests
        if resource not in ("", "namespaces") and not namespace
    ]
    assert cluster_wide == [], "a namespaced install listed or watched cluster-wide"
    touched = {namespace for *_, namespace in requests} - {""}
    assert touched == {installed.namespace, *installed.namespaces}


@pytest.mark.parametrize(
    ("verb", "group", "resource"),
    [
        # An apply's PATCH: refused by the authorizer before any handler runs.
        ("patch", "apps", "deployments"),
        # An apply that creates: the PATCH is allowed, then the handler checks create.
        ("create", "apps", "deployments"),
    ],
)
def test_a_rule_taken_away_shows_as_exactly_its_403(
    install, run, real_cluster, admin, verb, group, resource
):
    before = server_refusals(admin)
    installed = install(without=(verb, group, resource), spec_namespaces=False)
    running = run(installed)
    team, staging = installed.namespaces

    running.reconciled(create(running))
    failed = running.wait_phase(team, "ModelDeployment", "web", "Failed")
    running.wait_phase(staging, "ModelDeployment", "old", "Failed")
    trained = running.wait_phase(staging, "TrainingJob", "train", "Succeeded")
    running.reconciled(change(running))
    still = running.wait_phase(team, "ModelDeployment", "web", "Failed")
    running.service.stop()

    # The reconciler carried on: the training spec ran, the second commit was reconciled.
    assert trained["runs"][0]["metrics"] == ACCURACY
    for status in (failed, still):
        assert f'cannot {verb} resource "{resource}" in API group "{group}"' in status["message"]
        reasons = {c["reason"] for c in status["conditions"] if c["status"] != "True"}
        assert "ApplyFailed" in reasons, status["conditions"]
    # The server refused exactly that: each 403 its audit log shows is on deployments.
    refused = [r for r in map(refusals, audited(real_cluster, installed.user)) if r]
    assert refused and set(refused) == {("patch", group, resource)}
    assert server_refusals(admin) - before == len(refused)
    # The reconciler saw the same: failed applies of Deployments, and no other 403.
    failures = [e for e in running.logs if e["event"] == "apply_failed"]
    assert failures and all("Deployment" in e["object"] for e in failures), failures
    assert all(e["event"] == "apply_failed" for e in running.forbidden_logs())
    assert running.metric("reconciler_api_writes_total", verb="apply", result="error") >= 2
