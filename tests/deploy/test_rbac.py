"""deploy/rbac.yaml grants exactly what the code needs: derived from the code, then observed.

``permissions.required()`` states what each part of the code does with the API. A real run
against the sandbox (every managed kind watched, the example specs applied, one pruned, a
namespace created, a Lease won, renewed and released) records each request; the recording must
stay inside ``required()``, and rbac.yaml must allow all of it and nothing more.
"""

from __future__ import annotations

import ast
import shutil
import sys
import threading
from pathlib import Path

import pygit2
import pytest

from reconciler.cluster.client import KubeClient
from reconciler.cluster.lease import LeaderElector
from reconciler.engine import MANAGED_KINDS
from tests.deploy.conftest import NAMESPACE, PROJECT, SERVICE_ACCOUNT, crds_dir
from tests.deploy.permissions import Grants, Permission, request_permissions, required
from tests.waiting import wait_for

LEASE = (NAMESPACE, "reconciler-leader")
REQUIRED = required(MANAGED_KINDS, lease=LEASE)


class RecordingClient(KubeClient):
    """Records what each request asks the authorizer, and which module made it."""

    def __init__(self, api_client) -> None:
        super().__init__(api_client)
        self._lock = threading.Lock()
        self.permissions: set[Permission] = set()
        self.callers: set[str] = set()
        self.counters: dict[str, int] = {}

    def _record(self, method, path, query, content_type) -> None:
        caller = Path(sys._getframe(2).f_code.co_filename).resolve()
        with self._lock:
            self.permissions.update(request_permissions(method, path, query, content_type))
            self.callers.add(caller.relative_to(PROJECT).as_posix())

    def request(self, method, path, *, query=None, body=None, content_type=None, **options):
        self._record(method, path, query, content_type)
        return super().request(
            method, path, query=query, body=body, content_type=content_type, **options
        )

    def stream(self, path, query, read_timeout):
        self._record("GET", path, query, None)
        return super().stream(path, query, read_timeout)


def shape(permission: Permission) -> Permission:
    """Without object names and namespaces; group-version discovery documents as /apis/*."""
    found = permission.anywhere()
    if found.url.startswith("/apis/"):
        return Permission(found.verb, url="/apis/*")
    return found


@pytest.fixture(scope="module")
def grants(documents) -> Grants:
    return Grants.for_service_account(documents, NAMESPACE, SERVICE_ACCOUNT)


def commit_directory(bare: Path, source: Path, message: str) -> None:
    """Commit ``source`` as the whole tree of main, on top of main."""
    repo = pygit2.Repository(str(bare))
    index = pygit2.Index()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            blob = repo.create_blob(path.read_bytes())
            relative = path.relative_to(source).as_posix()
            index.add(pygit2.IndexEntry(relative, blob, pygit2.enums.FileMode.BLOB))
    parent = repo.references["refs/heads/main"].target
    author = pygit2.Signature("rbac test", "rbac@reconciler.invalid")
    repo.create_commit("refs/heads/main", author, author, message, index.write_tree(repo), [parent])


@pytest.fixture(scope="module")
def recorded(sandbox, tmp_path_factory) -> RecordingClient:
    if crds_dir() is None:
        pytest.skip("the upstream CRDs of the managed custom kinds are not beside the project")
    from reconciler import config
    from reconciler.commands.demo import EXAMPLES, seed_repository
    from reconciler.engine import Trigger
    from reconciler.errors import ApiError
    from reconciler.service import Service

    try:  # the Lease's namespace, as `kubectl apply -k deploy/` creates it
        KubeClient(sandbox.api_client()).request(
            "POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}}
        )
    except ApiError as exc:
        assert exc.reason == "AlreadyExists"
    work = tmp_path_factory.mktemp("rbac")
    specs = work / "specs"
    shutil.copytree(EXAMPLES, specs)
    bare = work / "specs.git"
    seed_repository(specs, bare)
    client = RecordingClient(sandbox.api_client())
    flags = {option.name: None for option in config.OPTIONS}
    flags.update(repo=str(bare), cache_dir=str(work / "cache"), interval="3600")
    sandbox.reset_counters()
    service = Service.open(config.load_settings(flags, {}), client=client)
    try:
        service.start()
        service.engine.reconcile([Trigger("start")])
        (specs / "models" / "text-classifier.yaml").unlink()
        commit_directory(bare, specs, "drop a spec: its objects are pruned")
        service.engine.reconcile([Trigger("poll")])
    finally:
        service.stop()
    elector = LeaderElector(client, *LEASE, "rbac-test", 1.0, 0.6, 0.15)
    elector.start()
    wait_for(elector.leading.is_set, timeout=5, what="leadership")
    renewed = elector.expires_at
    wait_for(lambda: elector.expires_at > renewed, timeout=5, what="a renewal")
    elector.stop(release=True)
    client.counters = sandbox.counters()
    return client


def test_the_run_exercised_every_kind_of_call(recorded):
    verbs = {(p.verb, p.resource) for p in recorded.permissions}
    for expected in [
        ("list", "deployments"),
        ("watch", "pods"),
        ("patch", "jobs"),
        ("create", "jobs"),
        ("delete", "inferenceservices"),
        ("get", "namespaces"),
        ("create", "namespaces"),
        ("create", "leases"),
        ("update", "leases"),
    ]:
        assert expected in verbs, f"the recorded run never made a {expected} request"


def test_every_recorded_call_is_derived_from_the_code(recorded):
    unexpected = {shape(p) for p in recorded.permissions} - {shape(p) for p in REQUIRED}
    assert not unexpected, (
        f"calls missing from permissions.required(): {sorted(map(str, unexpected))}"
    )


def test_every_recorded_call_is_granted(recorded, grants):
    denied = sorted(str(p) for p in recorded.permissions if not grants.allows(p))
    assert not denied, f"deploy/rbac.yaml does not allow: {denied}"


def test_every_derived_permission_is_granted(grants):
    denied = sorted(str(p) for p in REQUIRED if not grants.allows(p))
    assert not denied, f"deploy/rbac.yaml does not allow: {denied}"


def test_nothing_more_is_granted(grants):
    needed = {(p.verb, p.group, p.resource) for p in REQUIRED if p.resource}
    extra = []
    for rule in grants.rules():
        for verb in rule.verbs:
            for group in rule.groups:
                for resource in rule.resources:
                    if (verb, group, resource) not in needed:
                        extra.append(f"{verb} {group or 'core'}/{resource}")
    assert not extra, f"deploy/rbac.yaml grants what the code never does: {sorted(extra)}"


def test_no_wildcards_and_no_secrets(grants):
    defaults = Grants.for_service_account([], NAMESPACE, SERVICE_ACCOUNT).rules()
    broad = [rule for rule in grants.rules() if rule.broad and rule not in defaults]
    assert not broad
    assert not grants.allows(Permission("get", "", "secrets", NAMESPACE, "reconciler-git"))
    assert not grants.allows(Permission("list", "", "secrets"))


def test_the_lease_is_writable_only_in_the_own_namespace(grants):
    assert grants.allows(Permission("update", "coordination.k8s.io", "leases", *LEASE))
    assert not grants.allows(
        Permission("update", "coordination.k8s.io", "leases", "default", LEASE[1])
    )
    assert not grants.allows(
        Permission("update", "coordination.k8s.io", "leases", NAMESPACE, "other")
    )


def modules_of_run() -> set[Path]:
    """Files `reconciler run` loads: reconciler.service and the elector, and all they import."""
    pending = [
        PROJECT / "reconciler" / "service.py",
        PROJECT / "reconciler" / "cluster" / "lease.py",
    ]
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.split(".")[0] == "reconciler":
                    base = PROJECT.joinpath(*name.split("."))
                    pending += [base.with_suffix(".py"), base / "__init__.py"]
    return seen


def test_every_module_of_run_calling_the_api_took_part_in_the_run(recorded):
    """A module of `run` talking to the API must be exercised above, or its calls go unchecked."""
    calling = set()
    for path in modules_of_run():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("request", "stream")
                and "client" in ast.unparse(node.func.value).lower()
            ):
                calling.add(path.relative_to(PROJECT).as_posix())
    assert "reconciler/cluster/apply.py" in calling
    assert calling <= recorded.callers, f"not exercised: {sorted(calling - recorded.callers)}"


def test_the_sandbox_saw_what_was_recorded(recorded):
    """The server's own count of requests by verb and resource, against the client's record."""
    counted = {tuple(key.split(" ", 1)) for key in recorded.counters}
    mine = {(p.verb, p.resource) for p in recorded.permissions if p.resource}
    assert counted <= mine
    # What only the client side shows: an apply's implied create, counted as a patch.
    assert all(verb == "create" and ("patch", r) in mine for verb, r in mine - counted)
