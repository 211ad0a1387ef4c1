"""``bench/run.py --cluster real``: reconciler, kubectl and Flux, each on a fresh real cluster.

For each N and system: a fresh spec repository (bench/specs.py), the manifests a cold reconcile
applies (rendered as ``reconciler render`` does), a fresh ``hack/local-cluster up``, and an
``Observer`` holding watches on every kind those manifests hold. Then, per system:

- **cold**: from telling the system to start until the watches have seen every object;
- **settled**: from the same start until every Deployment is Available, every Job Complete and
  every InferenceService Ready (for the reconciler also until it says it has settled, since it
  starts later pipeline steps itself);
- **no-op**: a reconcile with nothing to do (reconciler: a resync; kubectl: the same apply
  again; Flux: every Kustomization asked to reconcile, its interval run);
- **push to live**: one serving spec's model URI changes, ``--pushes`` times; from ``git push``
  until the watch sees the Deployment at its new spec hash;
- **remove**: one serving spec's file deleted; until its Deployment and Service are gone;
- API requests per row from kube-apiserver's ``apiserver_request_total`` deltas; peak RSS and CPU
  seconds of the system's own processes from ``/proc``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run as harness
from flux import FluxControllers, GitHttp
from realcluster import Key, Observer, RealCluster, proc_cpu, proc_peak_mib
from specs import NAMESPACES, SpecFile, SpecRepository, git

MANAGED_BY = "app.kubernetes.io/managed-by=reconciler"
SETTLE_TIMEOUT = 1800.0  # seconds: thousands of pods for kwok and the scheduler on 2 cores
EVENT_TIMEOUT = 120.0
SYSTEMS = ("reconciler", "kubectl", "flux")
# What a system under test reads and writes. The rest of kube-apiserver's traffic is the
# cluster's own (controller-manager, scheduler and kwok: status subresources, pods, events,
# leases, nodes, discovery) and is reported apart.
OWN = {
    "namespaces", "deployments", "services", "horizontalpodautoscalers", "jobs",
    "inferenceservices", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
    "customresourcedefinitions", "gitrepositories", "kustomizations",
}  # fmt: skip
OWN_STATUS = {"gitrepositories", "kustomizations"}  # Flux writes its own objects' status
READ_ONLY = {"pods"}  # the reconciler lists pods for termination messages; kwok writes them


@dataclass
class Row:
    seconds: list[float]
    requests: Counter[str] = field(default_factory=Counter)
    note: str = ""


def own_requests(before: Counter, after: Counter) -> tuple[Counter[str], int]:
    """The system's requests by verb (and resource), and the count of everything else."""
    mine: Counter[str] = Counter()
    rest = 0
    for key, count in (after - before).items():
        verb, resource, subresource, dry_run = key
        if verb in ("WATCH", "WATCHLIST"):
            continue
        ours = (resource in OWN and (subresource == "" or resource in OWN_STATUS)) or (
            resource in READ_ONLY and verb in ("GET", "LIST")
        )
        if ours:
            mine[verb.lower() + (" (dry run)" if dry_run else "")] += count
        else:
            rest += count
    return mine, rest


def manifest_keys(manifests: Path) -> tuple[set[Key], set[str]]:
    keys, kinds = set(), set()
    for path in manifests.rglob("*.yaml"):
        for document in path.read_text().split("---\n"):
            if document.strip():
                obj = json.loads(document)
                keys.add((obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]))
                kinds.add(obj["kind"])
    return keys, kinds


def render_spec(work: Path, target: Path, spec: SpecFile) -> None:
    """Re-render one spec's file at the work tree's head; others keep their source commit."""
    from reconciler.commands.render import head_commit
    from reconciler.desired import desired_state
    from reconciler.specs.loader import load_directory

    loaded = next(s for s in load_directory(work).specs if s.key.name == spec.name)
    objects = desired_state(loaded, head_commit(work), [], lambda kind, ns, name: []).objects
    path = target / spec.namespace / spec.kind.lower() / f"{spec.name}.yaml"
    path.write_text("".join(f"---\n{json.dumps(o)}\n" for o in objects or []), encoding="utf-8")


def manifest_path(target: Path, spec: SpecFile) -> Path:
    return target / spec.namespace / spec.kind.lower() / f"{spec.name}.yaml"


def nodes_for(count: int) -> int:
    """Fake nodes enough for the pods of ``count`` specs. A kwok node offers 1k CPUs and 1Ti of
    memory (hack/kwok/stages/node.yaml) and the specs' pods ask 0.5-2 CPUs and 1-4Gi each: at
    5,000 specs two nodes ran 2,048 pods and left 2,950 Pending, and the cluster never settled.
    Three nodes per 1,000 specs is half again the room 1,000 specs need on two."""
    return max(2, -(-3 * count // 1000))


class Setup:
    """One system's fresh spec repository, manifests, cluster and watches."""

    def __init__(self, root: Path, specs: list[SpecFile], crd_dirs: list[Path]) -> None:
        self.root = root
        self.repository = SpecRepository(root / "git", specs)
        self.repository.push()
        self.manifests = root / "manifests"
        harness.render_manifests(self.repository.work, self.manifests)
        self.expected, kinds = manifest_keys(self.manifests)
        self.cluster = RealCluster(root / "cluster", crd_dirs, nodes_for(len(specs)))
        self.observer = Observer(self.cluster, self.expected, MANAGED_BY, sorted(kinds))
        self.marks: list[tuple[str, Counter]] = []

    def namespaces(self) -> None:
        for namespace in NAMESPACES:  # the reconciler makes its own; kubectl and Flux do not
            self.cluster.call("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})

    def counted(self) -> Counter:
        return self.cluster.requests()

    def new_hash(self, spec: SpecFile, old: str) -> float:
        key = ("Deployment", spec.namespace, spec.name)
        return self.observer.wait(
            lambda: self.observer.hashes.get(key, old) != old, EVENT_TIMEOUT, f"{key} to change"
        )

    def gone(self, spec: SpecFile) -> float:
        keys = [(kind, spec.namespace, spec.name) for kind in ("Deployment", "Service")]
        return self.observer.wait(
            lambda: all(k not in self.observer.hashes for k in keys), EVENT_TIMEOUT, f"{keys} gone"
        )

    def close(self) -> None:
        self.observer.close()
        self.cluster.stop()


def changing(specs: list[SpecFile]) -> tuple[list[SpecFile], SpecFile]:
    serving = harness.serving_specs(specs)
    return serving[1 : 1 + min(5, len(serving) - 1)], serving[0]


def run_reconciler(setup: Setup, pushes: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    before = setup.counted()
    started = time.time()
    reconciler = harness.ReconcilerProcess(
        setup.root, setup.repository.bare, setup.cluster.kubeconfig
    )
    pid = reconciler.process.pid
    try:
        reconciler.report(300)  # imported
        reconciler.report(300)  # constructed
        seen = setup.observer.wait(setup.observer.all_present, SETTLE_TIMEOUT, "every object")
        found["cold"] = Row([seen - started], *own_requests(before, setup.counted())[:1])
        found["cold_cpu"] = proc_cpu(pid)
        harness.progress(f"reconciler: every object in {seen - started:.2f} s; settling")
        settled = setup.observer.wait(setup.observer.settled, SETTLE_TIMEOUT, "settled")
        reconciler.wait_settled(SETTLE_TIMEOUT)
        settled = max(settled, setup.observer.wait(setup.observer.settled, SETTLE_TIMEOUT, "x"))
        found["settled"] = Row([settled - started])
        commits = harness.status_commits(setup.repository.bare)
        before = setup.counted()
        resynced = reconciler.ask("resync", SETTLE_TIMEOUT)
        requests = own_requests(before, setup.counted())[0]
        seconds = resynced["record"]["end"] - resynced["triggered"]
        commits = harness.status_commits(setup.repository.bare) - commits
        found["noop"] = Row([seconds], requests, f"{commits} Git commits")
        changed, removed = changing(setup.repository.specs)
        latencies, requests = [], Counter()
        for index in range(pushes):
            spec = changed[index % len(changed)]
            old = setup.observer.hashes[("Deployment", spec.namespace, spec.name)]
            head = setup.repository.change(spec, revision=2 + index)
            before = setup.counted()
            pushed = time.time()
            setup.repository.push()
            latencies.append(setup.new_hash(spec, old) - pushed)
            reconciler.wait_reconcile(lambda r, head=head: r["head"] == head, EVENT_TIMEOUT)
            requests += own_requests(before, setup.counted())[0]
        found["push"] = Row(latencies, per_push(requests, pushes))
        head = setup.repository.remove(removed)
        before = setup.counted()
        pushed = time.time()
        setup.repository.push()
        gone = setup.gone(removed)
        reconciler.wait_reconcile(lambda r: r["head"] == head, EVENT_TIMEOUT)
        found["remove"] = Row([gone - pushed], own_requests(before, setup.counted())[0])
        found["peak_mib"] = proc_peak_mib(pid)
        found["cpu"] = proc_cpu(pid)
    finally:
        reconciler.stop()
    return found


def per_push(requests: Counter[str], pushes: int) -> Counter[str]:
    return Counter({verb: round(count / pushes) for verb, count in requests.items()})


def kubectl_apply(setup: Setup) -> tuple[float, float, float, float]:
    """Start, end, CPU seconds and peak RSS (MiB) of one ``kubectl apply --server-side``."""
    command = [
        setup.cluster.kubectl, "--kubeconfig", str(setup.cluster.kubeconfig),
        "--cache-dir", str(setup.root / "kubectl-cache"),
        "apply", "--server-side", "-R", "-f", str(setup.manifests),
    ]  # fmt: skip
    begun = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"kubectl apply failed: {process.stderr.read()[-500:]!r}")
    return begun, ended, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_kubectl(setup: Setup, pushes: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    setup.namespaces()
    before = setup.counted()
    begun, ended, cpu, peak = kubectl_apply(setup)
    seen = setup.observer.wait(setup.observer.all_present, SETTLE_TIMEOUT, "every object")
    found["cold"] = Row([max(seen, ended) - begun], own_requests(before, setup.counted())[0])
    found["cold_cpu"], found["peak_mib"], found["cpu"] = cpu, peak, cpu
    harness.progress(f"kubectl: every object in {found['cold'].seconds[0]:.2f} s; settling")
    settled = setup.observer.wait(setup.observer.settled, SETTLE_TIMEOUT, "settled")
    found["settled"] = Row([settled - begun])
    before = setup.counted()
    begun, ended, cpu, peak = kubectl_apply(setup)
    found["noop"] = Row([ended - begun], own_requests(before, setup.counted())[0])
    found["cpu"] += cpu
    found["peak_mib"] = max(found["peak_mib"], peak)
    changed, _ = changing(setup.repository.specs)
    latencies, requests = [], Counter()
    for index in range(pushes):
        # What a CI job does on each push: render, then apply everything.
        spec = changed[index % len(changed)]
        old = setup.observer.hashes[("Deployment", spec.namespace, spec.name)]
        setup.repository.change(spec, revision=2 + index)
        render_spec(setup.repository.work, setup.manifests, spec)
        before = setup.counted()
        begun, ended, cpu, peak = kubectl_apply(setup)
        latencies.append(setup.new_hash(spec, old) - begun)
        requests += own_requests(before, setup.counted())[0]
        found["cpu"] += cpu
        found["peak_mib"] = max(found["peak_mib"], peak)
    found["push"] = Row(latencies, per_push(requests, pushes))
    return found


class FluxRepository:
    """The Git repository Flux reads: exactly the rendered manifests, served over HTTP."""

    def __init__(self, root: Path, manifests: Path) -> None:
        self.served = root / "served"
        self.bare = self.served / "manifests.git"
        self.work = manifests
        self.served.mkdir(parents=True)
        git("init", "--bare", "-q", str(self.bare), cwd=root)
        git("init", "-q", cwd=manifests)
        git("remote", "add", "origin", str(self.bare), cwd=manifests)
        self.commit("rendered manifests")
        self.push()

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self) -> None:
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)


def run_flux(setup: Setup, home: Path, pushes: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    setup.namespaces()
    repository = FluxRepository(setup.root / "flux-git", setup.manifests)
    server = GitHttp(repository.served)
    flux = FluxControllers(home, setup.root / "flux", setup.cluster)
    teams = sorted({s.namespace for s in setup.repository.specs})
    try:
        before = setup.counted()
        cpu = flux.cpu()
        begun = time.time()
        flux.create(f"{server.url}/manifests.git", teams)
        seen = setup.observer.wait(setup.observer.all_present, SETTLE_TIMEOUT, "every object")
        found["cold"] = Row([seen - begun], own_requests(before, setup.counted())[0])
        found["cold_cpu"] = flux.cpu() - cpu
        harness.progress(f"Flux: every object in {seen - begun:.2f} s; settling")
        settled = setup.observer.wait(setup.observer.settled, SETTLE_TIMEOUT, "settled")
        found["settled"] = Row([settled - begun])
        wait_applied(flux, repository, SETTLE_TIMEOUT)
        before = setup.counted()
        seconds = flux.reconcile_all(teams, SETTLE_TIMEOUT)
        found["noop"] = Row([seconds], own_requests(before, setup.counted())[0])
        changed, removed = changing(setup.repository.specs)
        latencies, requests = [], Counter()
        for index in range(pushes):
            spec = changed[index % len(changed)]
            old = setup.observer.hashes[("Deployment", spec.namespace, spec.name)]
            setup.repository.change(spec, revision=2 + index)
            render_spec(setup.repository.work, setup.manifests, spec)
            repository.commit(f"{spec.name}: revision {2 + index}")
            before = setup.counted()
            pushed = time.time()
            repository.push()
            flux.trigger_source()
            latencies.append(setup.new_hash(spec, old) - pushed)
            wait_applied(flux, repository, EVENT_TIMEOUT)
            requests += own_requests(before, setup.counted())[0]
        found["push"] = Row(latencies, per_push(requests, pushes))
        setup.repository.remove(removed)
        manifest_path(setup.manifests, removed).unlink()
        repository.commit(f"{removed.name}: removed")
        before = setup.counted()
        pushed = time.time()
        repository.push()
        flux.trigger_source()
        gone = setup.gone(removed)
        wait_applied(flux, repository, EVENT_TIMEOUT)
        found["remove"] = Row([gone - pushed], own_requests(before, setup.counted())[0])
        found["cpu"] = flux.cpu()
        found["peak_mib"] = flux.peak_mib()
        found["flux_metrics"] = flux_time(flux.own_metrics())
    finally:
        flux.stop()
        server.stop()
    return found


def wait_applied(flux: FluxControllers, repository: FluxRepository, timeout: float) -> None:
    """Until every Kustomization applied the repository's head: the next push starts clean."""
    head = git("rev-parse", "HEAD", cwd=repository.work)
    deadline = time.monotonic() + timeout
    while not all(
        (k.get("status") or {}).get("lastAppliedRevision", "").endswith(head)
        for k in flux.kustomizations()
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Flux did not apply {head[:8]} in time")
        time.sleep(0.1)


def flux_time(metrics: dict[str, str]) -> dict[str, float]:
    """Total seconds each controller spent reconciling, from its own histogram."""
    found = {}
    for name, text in metrics.items():
        total = 0.0
        for line in text.splitlines():
            if line.startswith("controller_runtime_reconcile_time_seconds_sum"):
                total += float(line.rsplit(" ", 1)[1])
        found[name] = total
    return found


# ---------------------------------------------------------------- one N


def run_all(
    root: Path,
    specs: list[SpecFile],
    systems: list[str],
    crd_dirs: list[Path],
    flux_home: Path | None,
    pushes: int,
    kubectl_pushes: int,
    results: dict[str, dict[str, Any]],
    measured: Callable[[], None],
) -> None:
    """Fill ``results`` one system at a time, calling ``measured`` after each: a run of hours
    keeps what it has measured when stopped."""
    for system in systems:
        harness.progress(f"N={len(specs)}: {system} on a fresh cluster")
        dirs = crd_dirs + ([flux_home / "crds"] if system == "flux" and flux_home else [])
        setup = Setup(root / system, specs, dirs)
        try:
            server_cpu = setup.cluster.server_cpu()
            before = setup.counted()
            if system == "reconciler":
                found = run_reconciler(setup, pushes)
            elif system == "kubectl":
                found = run_kubectl(setup, kubectl_pushes)
            else:
                assert flux_home is not None
                found = run_flux(setup, flux_home, pushes)
            found["server_cpu"] = setup.cluster.server_cpu() - server_cpu
            found["cluster_requests"] = own_requests(before, setup.counted())[1]
            found["objects"] = len(setup.expected)
        finally:
            setup.close()
        results[system] = found
        measured()


# ---------------------------------------------------------------- report


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def verbs(requests: Counter[str]) -> str:
    total = sum(requests.values())
    if not total:
        return "0"
    return f"{total}: " + ", ".join(f"{v} {c}" for v, c in sorted(requests.items()) if c)


ROWS = (
    ("cold", "cold: start until every object exists", None, "<= 0.5x kubectl"),
    ("settled", "settled: Deployments Available, Jobs Complete", None, ""),
    ("noop", "no-op reconcile", None, "0 requests, 0 commits"),
    ("push", "push to live, p50", 0.50, "< 250 ms; >= 10x faster than Flux"),
    ("push", "push to live, p95", 0.95, ""),
    ("push", "push to live, p99", 0.99, "< 1 s"),
    ("remove", "one removed spec until its objects are gone", None, ""),
)


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    systems = [s for s in SYSTEMS if s in results]
    names = {"reconciler": "reconciler", "kubectl": "kubectl", "flux": "Flux"}
    head = "| measurement | " + " | ".join(f"{names[s]} | {names[s]} requests" for s in systems)
    ratios = [o for o in ("kubectl", "flux") if o in results and "reconciler" in results]
    head += "".join(f" | reconciler / {names[o]}" for o in ratios) + " | target |"
    lines = [head, "|---" * (2 + 2 * len(systems) + len(ratios)) + "|"]
    for key, label, share, target in ROWS:
        cells, values = [], {}
        for system in systems:
            row: Row | None = results[system].get(key)
            if row is None:
                cells += ["n/a", ""]
                continue
            value = percentile(row.seconds, share) if share else row.seconds[0]
            values[system] = value
            shown = seconds(value) + (f" (n={len(row.seconds)})" if share == 0.5 else "")
            requests = verbs(row.requests) if key != "settled" else ""
            if key == "push" and share != 0.5:
                requests = ""
            elif key == "push":
                requests += " per push"
            if row.note:
                requests += f"; {row.note}"
            cells += [shown, requests]
        for other in ratios:
            ours, theirs = values.get("reconciler"), values.get(other)
            cells.append(f"{ours / theirs:.2f}" if ours is not None and theirs else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    for label, key, unit, target in (
        ("peak RSS of the system's processes", "peak_mib", "MiB", "< 250 MB"),
        ("CPU seconds of the system's processes, whole run", "cpu", "s", ""),
        ("CPU seconds of the system's processes, cold", "cold_cpu", "s", ""),
        ("CPU seconds of kube-apiserver and etcd, whole run", "server_cpu", "s", ""),
    ):
        cells = []
        for system in systems:
            cells += [f"{results[system][key]:.{0 if unit == 'MiB' else 1}f} {unit}", ""]
        for other in ratios:
            theirs = results[other][key]
            cells.append(f"{results['reconciler'][key] / theirs:.2f}" if theirs else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    return lines


def report(results: dict[int, dict[str, dict[str, Any]]], notes: list[str]) -> list[str]:
    lines = ["## Real control plane (`--cluster real`)", "", *notes, ""]
    for count, systems in results.items():
        objects = next(iter(systems.values()))["objects"]
        lines += [f"### N = {count:,} specs ({objects} objects at the start)", ""]
        lines += table(systems)
        lines += ["", "Also measured:", ""]
        for system, found in systems.items():
            lines.append(
                f"- {system}: kube-apiserver also counted {found['cluster_requests']} requests "
                "of the cluster's own (controller-manager, scheduler, kwok) over this system's run."
            )
            if "flux_metrics" in found:
                spent = ", ".join(
                    f"{k}-controller {v:.1f} s" for k, v in found["flux_metrics"].items()
                )
                lines.append(
                    f"- Flux's own reconcile time (controller-runtime histogram sums): {spent}."
                )
        lines.append("")
    return lines
