"""The scale benchmark: reconciler against a sandbox, side by side with kubectl.

    python bench/run.py [--specs 1000 5000] [--repetitions 3] [--large-repetitions 1]
                        [--output bench/RESULTS.md]

For each N and repetition, on a fresh spec repository (bench/specs.py) and a fresh sandbox:

1. the sandbox runs as its own process (``reconciler sandbox``), so its CPU never counts as the
   reconciler's; the reconciler runs as a second process (this script with
   ``--reconciler-process``), a real ``Service`` with its watchdog trigger, so its peak RSS is
   its own. It reports the time of each reconcile and of each stage this benchmark needs;
2. cold reconcile (process start until every object is applied, then the first status commit
   of all N files), a resync with nothing to do, one changed spec (push -> object updated, seen
   by a watch of the sandbox), one removed spec (push -> objects deleted), peak RSS; API
   requests by verb from the sandbox's counters (``/sandbox/counters``);
3. on another fresh sandbox, ``kubectl apply --server-side -R -f`` of the very manifests a cold
   reconcile applies (written with the renderer), then the same apply again (kubectl's no-op);
4. medians over the repetitions into a Markdown report.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import queue
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from specs import NAMESPACES, SpecFile, SpecRepository, plan_specs  # noqa: E402

CRDS = PROJECT.parent / "shared" / "crds"
# Deployments become Available this fast in the sandbox: the loop settles in seconds, not minutes.
DEPLOYMENT_DELAY = "0.05"
SETTLE_TIMEOUT = 900.0  # seconds; generous for 5,000 specs on 2 cores
EVENT_TIMEOUT = 60.0  # seconds to wait for one change to show in the cluster
QUIET = 1.0  # seconds with no reconcile before the loop counts as idle
LARGE = 5000  # from this N on, --large-repetitions applies: kubectl alone takes minutes
WATCHED = ("/apis/apps/v1/deployments", "/api/v1/services")
SPEC_NAME_LABEL = "mlops/spec-name"
SPEC_HASH = "mlops/spec-hash"


# ---------------------------------------------------------------- the sandbox, from outside


class SandboxProcess:
    """``reconciler sandbox`` as a child process, with its control surface and its CPU time."""

    def __init__(self, workdir: Path, crds: Path | None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = workdir / "kubeconfig"
        command = [
            sys.executable, "-m", "reconciler", "sandbox",
            "--port", "0",
            "--kubeconfig", str(self.kubeconfig),
            "--deployment-delay", DEPLOYMENT_DELAY,
        ]  # fmt: skip
        if crds is not None:
            command += ["--crds", str(crds)]
        self._log = (workdir / "sandbox.log").open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, cwd=PROJECT
        )
        try:
            deadline = time.monotonic() + 60
            while b"stop with Ctrl-C" not in (workdir / "sandbox.log").read_bytes():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
                time.sleep(0.05)
        except BaseException:  # a SIGTERM too: no caller holds this process yet to stop it
            self.stop()
            raise
        config = yaml.safe_load(self.kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.token = config["users"][0]["user"]["token"]
        self.context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )

    def connection(self, timeout: float | None = 30.0) -> http.client.HTTPSConnection:
        where = urlsplit(self.url)
        return http.client.HTTPSConnection(
            where.hostname or "127.0.0.1", where.port, context=self.context, timeout=timeout
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        connection = self.connection()
        try:
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 400 and response.status != 409:
                raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
            return json.loads(payload) if payload else None
        finally:
            connection.close()

    def counters(self) -> dict[str, int]:
        return self.call("GET", "/sandbox/counters")

    def reset_counters(self) -> None:
        self.call("POST", "/sandbox/counters/reset")

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the sandbox process so far (Linux; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Watch:
    """Events of one collection, each stamped with the time it arrived, on a thread."""

    def __init__(self, sandbox: SandboxProcess, path: str, label_selector: str) -> None:
        self.events: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self._connection = sandbox.connection(timeout=None)
        query = urlencode({"watch": "true", "labelSelector": label_selector})
        self._connection.request(
            "GET", f"{path}?{query}", headers={"Authorization": f"Bearer {sandbox.token}"}
        )
        self._response = self._connection.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Closing the watch ends this read with whichever error the socket's state gives.
        with contextlib.suppress(OSError, ValueError, AttributeError, http.client.HTTPException):
            while line := self._response.readline():
                if line.strip():
                    event = json.loads(line)
                    self.events.put((time.time(), event["type"], event["object"]))

    def next(self, deadline: float) -> tuple[float, str, dict[str, Any]]:
        return self.events.get(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.sock.shutdown(2)  # type: ignore[union-attr]
        self._connection.close()


def requests_by_verb(counters: dict[str, int], *, watches: bool = True) -> dict[str, int]:
    """``{"patch deployments": 3, ...}`` -> ``{"patch": 3}``; without watches when asked."""
    verbs: dict[str, int] = {}
    for key, count in counters.items():
        verb = key.split(" ", 1)[0]
        if watches or verb != "watch":
            verbs[verb] = verbs.get(verb, 0) + count
    return dict(sorted(verbs.items()))


# ---------------------------------------------------------------- the reconciler process


def reconciler_process(config_file: Path) -> None:
    """Run a Service, report each reconcile as a JSON line, answer commands read from stdin."""
    spawned = float(os.environ["BENCH_SPAWNED"])
    # Where the engine's time goes: a cProfile dump of its worker thread (appliers not included).
    profile_to = os.environ.get("BENCH_PROFILE")
    from reconciler import config
    from reconciler.logs import configure
    from reconciler.service import Service

    options = json.loads(config_file.read_text())
    configure("info")  # the default of `reconciler run`: logging is part of the cost
    out_lock = threading.Lock()

    def emit(**record: Any) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()

    flags: dict[str, Any] = {option.name: None for option in config.OPTIONS}
    flags.update(
        repo=options["repo"],
        kubeconfig=options["kubeconfig"],
        cache_dir=options["cache_dir"],
        interval="3600",  # the watchdog trigger is what is measured, not the poll
    )
    settings = config.load_settings(flags, {})
    started = time.time()
    emit(event="imported", spawned=spawned, imported=started)
    service = Service.open(settings)
    engine = service.engine
    records: list[dict[str, Any]] = []
    done = threading.Condition()
    busy = threading.Event()
    current: dict[str, Any] = {}

    stages = engine.reconciler
    parse_cache = stages.loader.parse_cache
    original_reconcile, original_converge = engine.reconcile, stages._converge
    original_report, original_status = stages.reporter.report, engine.status.write

    def reconcile(triggers: Any) -> None:
        triggers = list(triggers)
        busy.set()
        misses = parse_cache.misses
        current.clear()
        current.update(reasons=sorted({t.reason for t in triggers}), start=time.time(), dirty=0)
        original_reconcile(triggers)
        record = {**current, "end": time.time(), "head": engine.state.head}
        record["parsed"] = parse_cache.misses - misses
        record["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with done:
            records.append(record)
            done.notify_all()
        busy.clear()
        emit(event="reconcile", **record)

    def converge(cycle: Any) -> None:
        current["dirty"] = len(cycle.dirty)
        original_converge(cycle)

    def report(cycle: Any, keys: Any, outcomes: Any, failures: Any, changeset: Any, *rest: Any):
        # The status stage begins once every apply and prune is done.
        current["applied"] = time.time()
        current["cpu_applied"] = time.process_time()
        current["writes"] = sum(1 for c in changeset.changes if c.action.value != "noop")
        return original_report(cycle, keys, outcomes, failures, changeset, *rest)

    def status_write(files: Any, message: str) -> Any:
        begun = time.perf_counter()
        commit = original_status(files, message)
        current["status_seconds"] = time.perf_counter() - begun
        current["status_files"] = len(files)
        current["status_commit"] = commit is not None
        return commit

    original_owed, original_put = engine._write_owed, engine.inbox.put

    def write_owed() -> None:
        # A status commit pacing held back, written between reconciles: a push waits for it.
        begun = time.time()
        original_owed()
        emit(event="owed", start=begun, end=time.time())

    def put(trigger: Any) -> None:
        if trigger.reason == "commit":  # the watchdog's, after a push
            emit(event="trigger", reason=trigger.reason, at=time.time())
        original_put(trigger)

    engine._write_owed, engine.inbox.put = write_owed, put  # type: ignore[method-assign]
    engine.reconcile, stages._converge = reconcile, converge  # type: ignore[method-assign]
    stages.reporter.report, engine.status.write = report, status_write  # type: ignore[method-assign]
    emit(event="constructed", started=started, cpu=time.process_time())
    service.start()

    def work() -> None:
        if not profile_to:
            service.run_forever()
            return
        import cProfile

        profiler = cProfile.Profile()
        try:
            profiler.runcall(service.run_forever)
        finally:
            profiler.dump_stats(profile_to)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()

    for line in sys.stdin:
        command = line.strip()
        if command == "state":
            last = records[-1]["end"] if records else 0.0
            emit(
                event="state",
                settled=engine.settled(),
                idle=engine.queue.empty() and not busy.is_set(),
                told=not engine.telling(),
                quiet=time.time() - last,
                reconciles=len(records),
            )
        elif command == "resync":
            with done:
                seen = len(records)
                triggered = time.time()
                engine.trigger("resync")
                while not any("resync" in r["reasons"] for r in records[seen:]):
                    done.wait()
                record = next(r for r in records[seen:] if "resync" in r["reasons"])
            emit(event="resynced", triggered=triggered, record=record)
        elif command == "rss":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            emit(
                event="rss",
                peak_kib=usage.ru_maxrss,
                cpu=usage.ru_utime + usage.ru_stime,
            )
        elif command == "stop":
            break
    service.stop()
    worker.join(10)


class ReconcilerProcess:
    """The parent's side: start the process, send commands, wait for its reports."""

    def __init__(self, workdir: Path, repo: Path, kubeconfig: Path) -> None:
        options = {
            "repo": str(repo),
            "kubeconfig": str(kubeconfig),
            "cache_dir": str(workdir / "cache"),
        }
        config_file = workdir / "reconciler.json"
        config_file.write_text(json.dumps(options))
        self._log = (workdir / "reconciler.log").open("wb")
        self.reports: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reconciles: list[dict[str, Any]] = []
        # Status commits written between reconciles, and triggers as the inbox took them.
        self.owed: list[dict[str, Any]] = []
        self.triggers: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        env = {**os.environ, "BENCH_SPAWNED": repr(time.time())}
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--reconciler-process",
                str(config_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=PROJECT,
            env=env,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            record = json.loads(line)
            if record["event"] == "reconcile":
                with self._changed:
                    self.reconciles.append(record)
                    self._changed.notify_all()
            elif record["event"] == "owed":
                self.owed.append(record)
            elif record["event"] == "trigger":
                self.triggers.append(record)
            else:
                self.reports.put(record)

    def ask(self, command: str, timeout: float = 120.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.report(timeout)

    def report(self, timeout: float = 120.0) -> dict[str, Any]:
        try:
            return self.reports.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("the reconciler process stopped answering") from None

    def wait_reconcile(self, test: Callable[[dict[str, Any]], bool], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for record in self.reconciles:
                    if test(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise RuntimeError("the reconcile awaited did not happen")
                self._changed.wait(remaining)

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> float:
        """Wait until every spec is settled and the worker idle; the time that took."""
        begun = time.monotonic()
        while time.monotonic() - begun < timeout:
            state = self.ask("state")
            if state["settled"] and state["idle"] and state["quiet"] > QUIET:
                return time.monotonic() - begun
            time.sleep(0.2)
        raise RuntimeError(f"the reconciler did not settle in {timeout:.0f} s")

    def wait_told(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the Events and notifications of earlier work are delivered."""
        deadline = time.monotonic() + timeout
        while not self.ask("state")["told"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"events still queued after {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write("stop\n")
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


# ---------------------------------------------------------------- one repetition


@dataclass
class Measure:
    seconds: float
    requests: dict[str, int] = field(default_factory=dict)
    note: str = ""


def status_commits(bare: Path) -> int:
    from specs import git

    try:
        return int(git("rev-list", "--count", "status", cwd=bare))
    except RuntimeError:
        return 0


def serving_specs(specs: list[SpecFile]) -> list[SpecFile]:
    """Serving specs without autoscaling: exactly one Deployment and one Service each."""
    return [s for s in specs if s.flavour == "serving" and int(s.name[-5:]) % 3 != 0]


def watches_for(sandbox: SandboxProcess, spec: SpecFile) -> list[Watch]:
    return [Watch(sandbox, path, f"{SPEC_NAME_LABEL}={spec.name}") for path in WATCHED]


def drain_initial(watches: list[Watch], count: int) -> dict[str, dict[str, Any]]:
    """The ADDED events a fresh watch starts with: one object per watch here."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    objects = {}
    for watch in watches:
        for _ in range(count):
            _, _, obj = watch.next(deadline)
            objects[obj["kind"]] = obj
    return objects


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def run_reconciler(root: Path, repository: SpecRepository, crds: Path | None) -> dict[str, Any]:
    specs = repository.specs
    sandbox = SandboxProcess(root / "sandbox", crds)
    found: dict[str, Any] = {}
    reconciler: ReconcilerProcess | None = None
    try:
        sandbox.reset_counters()
        cpu = sandbox.cpu_seconds()
        reconciler = ReconcilerProcess(root, repository.bare, sandbox.kubeconfig)
        imported = reconciler.report(300)
        constructed = reconciler.report(300)
        first = reconciler.wait_reconcile(lambda r: "start" in r["reasons"], SETTLE_TIMEOUT)
        cold_counters = sandbox.counters()
        found["imports"] = imported["imported"] - imported["spawned"]
        found["cold"] = Measure(
            first["applied"] - constructed["started"], requests_by_verb(cold_counters)
        )
        found["cold_process"] = first["applied"] - imported["spawned"]
        found["cold_total"] = first["end"] - constructed["started"]
        found["status"] = Measure(first.get("status_seconds", float("nan")))
        found["status_files"] = first.get("status_files", 0)
        found["rss_cold_mib"] = first["peak_kib"] / 1024
        found["sandbox_cpu_cold"] = sandbox.cpu_seconds() - cpu
        found["reconciler_cpu_cold"] = first["cpu_applied"] - constructed["cpu"]
        progress(f"cold reconcile applied in {found['cold'].seconds:.2f} s; settling")
        found["settle"] = reconciler.wait_settled()
        progress(f"settled in {found['settle']:.2f} s")

        # A resync with nothing to do: no request but the open watches, no commit. Events the
        # cold start queued are delivered in the background at a bounded rate; they are that
        # work's, not the resync's, so the resync waits until they are out.
        reconciler.wait_told()
        commits = status_commits(repository.bare)
        sandbox.reset_counters()
        resynced = reconciler.ask("resync", SETTLE_TIMEOUT)
        record = resynced["record"]
        found["noop"] = Measure(
            record["end"] - resynced["triggered"],
            requests_by_verb(sandbox.counters(), watches=False),
        )
        found["noop_commits"] = status_commits(repository.bare) - commits
        found["noop_dirty"] = record["dirty"]

        progress(f"no-op reconcile {found['noop'].seconds:.3f} s")
        changing, removing = serving_specs(specs)[:2]
        found["change"] = _change(repository, sandbox, reconciler, changing)
        reconciler.wait_settled()
        found["remove"] = _remove(repository, sandbox, reconciler, removing)
        reconciler.wait_settled()
        usage = reconciler.ask("rss")
        found["rss_mib"] = usage["peak_kib"] / 1024
        found["reconciler_cpu"] = usage["cpu"]
    finally:
        if reconciler is not None:
            reconciler.stop()
        sandbox.stop()
    return found


def _push(repository: SpecRepository) -> float:
    pushed = time.time()
    repository.push()
    return pushed


def _change(
    repository: SpecRepository,
    sandbox: SandboxProcess,
    reconciler: ReconcilerProcess,
    spec: SpecFile,
) -> Measure:
    watches = watches_for(sandbox, spec)
    try:
        before = drain_initial(watches, 1)["Deployment"]
        old_hash = before["metadata"]["annotations"][SPEC_HASH]
        head = repository.change(spec, revision=2)
        sandbox.reset_counters()
        pushed = _push(repository)
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            seen, _, obj = watches[0].next(deadline)
            if obj["metadata"]["annotations"].get(SPEC_HASH) != old_hash:
                break
        record = reconciler.wait_reconcile(lambda r: r["head"] == head, EVENT_TIMEOUT)
        counters = requests_by_verb(sandbox.counters(), watches=False)
    finally:
        for watch in watches:
            watch.close()
    return Measure(
        seen - pushed,
        counters,
        f"{record['parsed']} file(s) parsed, {record['dirty']} spec(s) rendered",
    )


def _remove(
    repository: SpecRepository,
    sandbox: SandboxProcess,
    reconciler: ReconcilerProcess,
    spec: SpecFile,
) -> Measure:
    watches = watches_for(sandbox, spec)
    try:
        drain_initial(watches, 1)
        head = repository.remove(spec)
        sandbox.reset_counters()
        pushed = _push(repository)
        deadline = time.monotonic() + EVENT_TIMEOUT
        gone = []
        for watch in watches:
            while True:
                seen, kind, _ = watch.next(deadline)
                if kind == "DELETED":
                    gone.append(seen)
                    break
        record = reconciler.wait_reconcile(lambda r: r["head"] == head, EVENT_TIMEOUT)
        counters = requests_by_verb(sandbox.counters(), watches=False)
    finally:
        for watch in watches:
            watch.close()
    return Measure(
        max(gone) - pushed,
        counters,
        f"{record['parsed']} file(s) parsed, {record['dirty']} spec(s) planned",
    )


# ---------------------------------------------------------------- kubectl


def render_manifests(work: Path, target: Path) -> int:
    """Write what a cold reconcile applies, one file per spec; the number of objects.

    Each document is written as JSON (which is YAML): a YAML 1.1 dumper leaves a hash such as
    ``1e234567`` unquoted, and kubectl's YAML 1.2 reader takes that for a number.
    """
    from reconciler.commands.render import head_commit
    from reconciler.desired import desired_state
    from reconciler.specs.loader import load_directory

    result = load_directory(work)
    if result.problems:
        raise RuntimeError(f"the generated specs have problems: {result.problems[:3]}")
    commit = head_commit(work)
    count = 0
    for loaded in result.specs:
        # A cold cluster: no runs yet, so only the first step of each pipeline can start.
        desired = desired_state(loaded, commit, [], lambda kind, namespace, name: [])
        objects = desired.objects or []
        key = loaded.key
        path = target / key.namespace / key.kind.lower() / f"{key.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"---\n{json.dumps(o)}\n" for o in objects), encoding="utf-8")
        count += len(objects)
    return count


def run_kubectl(root: Path, manifests: Path, crds: Path | None) -> dict[str, Any]:
    sandbox = SandboxProcess(root / "sandbox-kubectl", crds)
    found: dict[str, Any] = {}
    try:
        for namespace in NAMESPACES:  # the reconciler creates these itself; kubectl does not
            sandbox.call("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        command = [
            "kubectl",
            "--kubeconfig", str(sandbox.kubeconfig),
            "--cache-dir", str(root / "kubectl-cache"),
            "apply", "--server-side", "-R", "-f", str(manifests),
        ]  # fmt: skip
        for name in ("kubectl", "kubectl_noop"):
            sandbox.reset_counters()
            cpu = sandbox.cpu_seconds()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            begun = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - begun
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise RuntimeError(f"kubectl apply failed: {done.stderr.strip()[:500]}")
            found[name] = Measure(seconds, requests_by_verb(sandbox.counters()))
            found[f"{name}_objects"] = len(done.stdout.splitlines())
            found[f"sandbox_cpu_{name}"] = sandbox.cpu_seconds() - cpu
            found[f"cpu_{name}"] = (after.ru_utime + after.ru_stime) - (
                before.ru_utime + before.ru_stime
            )
    finally:
        sandbox.stop()
    return found


# ---------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def verbs(requests: dict[str, int]) -> str:
    if not requests:
        return "0"
    total = sum(requests.values())
    return f"{total}: " + ", ".join(f"{verb} {count}" for verb, count in requests.items())


def median_requests(measures: list[Measure]) -> dict[str, int]:
    keys = sorted({verb for m in measures for verb in m.requests})
    found = {key: round(median([m.requests.get(key, 0) for m in measures])) for key in keys}
    return {key: count for key, count in found.items() if count}


ROWS = (
    # key, label, kubectl key (None: no kubectl counterpart), target
    ("cold", "cold reconcile: start until every object is applied", "kubectl", "<= 0.5x kubectl"),
    ("noop", "no-op reconcile (resync)", "kubectl_noop", "0 requests, 0 commits, < 1 s"),
    ("change", "one changed spec: push until the object is updated", None, "< 1 s, 1-2 writes"),
    ("remove", "one removed spec: push until its objects are deleted", None, ""),
    ("status", "first status commit of all N files", None, "< 2 s"),
)


def report(
    results: dict[int, list[dict[str, Any]]],
    baselines: dict[int, list[dict[str, Any]]],
    about: list[str],
    notes: list[str],
) -> str:
    lines = ["# Benchmark results", "", "Generated by `python bench/run.py`; do not edit.", ""]
    lines += about
    lines += ["", *notes, ""]
    for count, runs in results.items():
        base = baselines.get(count, [])
        objects = base[0]["kubectl_objects"] if base else "?"
        lines += [
            f"## N = {count:,} specs ({objects} objects, median of {len(runs)} repetition(s))",
            "",
            "| measurement | reconciler | API requests | kubectl | kubectl requests "
            "| reconciler / kubectl | target |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, label, kubectl_key, target in ROWS:
            measures: list[Measure] = [run[key] for run in runs]
            wall = median([m.seconds for m in measures])
            requests = "" if key == "status" else verbs(median_requests(measures))
            theirs, their_requests, ratio = "", "", ""
            if kubectl_key is not None and base:
                their = [b[kubectl_key] for b in base]
                their_wall = median([m.seconds for m in their])
                theirs, their_requests = seconds(their_wall), verbs(median_requests(their))
                ratio = f"{wall / their_wall:.2f}"
            spread = f" ({seconds(min(m.seconds for m in measures))}-" + (
                f"{seconds(max(m.seconds for m in measures))})" if len(measures) > 1 else ""
            )
            shown = seconds(wall) + (spread if len(measures) > 1 else "")
            if key == "noop":
                commits = median([run["noop_commits"] for run in runs])
                requests += f"; {commits:.0f} Git commits"
            if measures[0].note:
                requests += f"; {measures[0].note}"
            lines.append(
                f"| {label} | {shown} | {requests} | {theirs} | {their_requests} "
                f"| {ratio} | {target} |"
            )
        rss = median([run["rss_mib"] for run in runs])
        lines.append(f"| peak RSS of the reconciler process | {rss:.0f} MiB | | | | | < 250 MB |")
        lines += ["", "Also measured (medians):", ""]
        lines += [
            f"- Python start and imports of the reconciler process: "
            f"{seconds(median([r['imports'] for r in runs]))}; cold reconcile counted from "
            f"process start: {seconds(median([r['cold_process'] for r in runs]))}.",
            f"- Cold reconcile including the status commit: "
            f"{seconds(median([r['cold_total'] for r in runs]))}; status files written: "
            f"{runs[0]['status_files']}.",
            f"- Until every spec settled after the cold reconcile (Deployments available, jobs "
            f"and pipelines finished, status committed): "
            f"{seconds(median([r['settle'] for r in runs]))}.",
            f"- CPU during the cold reconcile: sandbox (until its status commit) "
            f"{seconds(median([r['sandbox_cpu_cold'] for r in runs]))}, reconciler (until applied) "
            f"{seconds(median([r['reconciler_cpu_cold'] for r in runs]))}"
            + (
                f"; during kubectl's first apply: sandbox "
                f"{seconds(median([b['sandbox_cpu_kubectl'] for b in base]))}, kubectl "
                f"{seconds(median([b['cpu_kubectl'] for b in base]))}."
                if base
                else "."
            ),
            f"- Peak RSS of the reconciler by the end of the cold reconcile: "
            f"{median([r['rss_cold_mib'] for r in runs]):.0f} MiB.",
            f"- CPU time of the reconciler process over the whole run: "
            f"{seconds(median([r['reconciler_cpu'] for r in runs]))}.",
            f"- Specs the resync looked at: {runs[0]['noop_dirty']} (each skipped when nothing it "
            "reads had changed).",
            "",
        ]
    return "\n".join(lines)


def machine() -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    commit = _output(["git", "rev-parse", "HEAD"]) or "unknown"
    dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    kubectl = _kubectl_version()
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {memory} memory, {platform.system()}",
        f"- Python {platform.python_version()}; kubectl {kubectl}",
        f"- Commit {commit}" + (" (with uncommitted changes)" if dirty else ""),
    ]


def _output(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return ""


def _kubectl_version() -> str:
    raw = _output(["kubectl", "version", "--client", "-o", "json"])
    with contextlib.suppress(ValueError, KeyError):
        return json.loads(raw)["clientVersion"]["gitVersion"]
    return "not found"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", type=int, nargs="+", default=[1000, 5000], metavar="N")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--large-repetitions",
        type=int,
        default=1,
        help=f"repetitions for N >= {LARGE:,}: one takes about 10 minutes here (default: 1)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--cluster",
        choices=("sandbox", "real"),
        default="sandbox",
        help="the sandbox, or a real control plane per system (hack/local-cluster)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=("reconciler", "kubectl", "flux"),
        default=["reconciler", "kubectl", "flux"],
        help="with --cluster real: which systems (Flux is built by hack/flux/build if needed)",
    )
    parser.add_argument(
        "--pushes", type=int, default=20, help="with --cluster real: changed specs per system"
    )
    parser.add_argument(
        "--kubectl-pushes",
        type=int,
        default=3,
        help="with --cluster real: kubectl's pushes, each a whole apply (default 3)",
    )
    parser.add_argument("--reconciler-process", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reconciler_process is not None:
        reconciler_process(args.reconciler_process)
        return 0
    # A stopped run still stops what it started (clusters, Flux's controllers, the sandbox): the
    # cleanup is in `finally` blocks, which a SIGTERM would skip.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    if args.cluster == "real":
        return main_real(args)
    # Before the first write: the output file may be in the work tree being described.
    about = machine()
    crds = CRDS if CRDS.is_dir() else None
    notes = []
    if crds is None:
        notes.append("- KServe CRDs not found: serving uses only the deployment runtime.")
    else:
        notes.append("- CRDs loaded into the sandbox: KServe specs render InferenceServices.")
    if any(count >= LARGE for count in args.specs) and args.large_repetitions != args.repetitions:
        notes.append(
            f"- N >= {LARGE:,}: {args.large_repetitions} repetition(s), "
            f"the others {args.repetitions}, to keep one run of this command short."
        )
    has_kubectl = shutil.which("kubectl") is not None
    if not has_kubectl:
        notes.append("- kubectl not found: no baseline.")
    results: dict[int, list[dict[str, Any]]] = {}
    baselines: dict[int, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as scratch:
        for count in args.specs:
            specs = plan_specs(count, kserve=crds is not None)
            repeat = args.large_repetitions if count >= LARGE else args.repetitions
            for repetition in range(repeat):
                root = Path(scratch) / f"n{count}-r{repetition}"
                repository = SpecRepository(root / "git", specs)
                repository.push()
                manifests = root / "manifests"
                render_manifests(repository.work, manifests)
                print(f"N={count} repetition {repetition + 1}: reconciler", file=sys.stderr)
                results.setdefault(count, []).append(run_reconciler(root, repository, crds))
                if has_kubectl:
                    print(f"N={count} repetition {repetition + 1}: kubectl", file=sys.stderr)
                    baselines.setdefault(count, []).append(run_kubectl(root, manifests, crds))
                shutil.rmtree(root, ignore_errors=True)
            sandbox = report(results, baselines, about, notes)
            write_section(args.output, sandbox, REAL_SECTION, first=True)
    print(args.output.read_text())
    return 0


REAL_SECTION = "## Real control plane"


def write_section(output: Path, text: str, marker: str, first: bool) -> None:
    """Write one mode's part of the report and keep the other mode's part as it was."""
    kept = output.read_text(encoding="utf-8") if output.exists() else ""
    before, found, after = kept.partition(marker)
    if first:  # the sandbox part comes first, the real part (from the marker on) stays after it
        rest = found + after
        output.write_text(text.rstrip("\n") + "\n\n" + rest if rest else text, encoding="utf-8")
    else:
        output.write_text(before.rstrip("\n") + "\n\n" + text, encoding="utf-8")


def main_real(args: argparse.Namespace) -> int:
    import real
    from flux import flux_home

    about = machine()
    crd_dirs = [CRDS] if CRDS.is_dir() else []
    home = flux_home(build=True) if "flux" in args.systems else None
    systems = [s for s in real.SYSTEMS if s in args.systems]
    notes = [
        f"Generated by `python bench/run.py --cluster real --specs "
        f"{' '.join(map(str, args.specs))}`; do not edit.",
        "",
        *about,
        "- One fresh `hack/local-cluster up` per system and N (kube-apiserver, etcd, "
        "controller-manager, scheduler, kwok fake nodes), with the KServe CRDs"
        + (" and Flux's own." if home else ".")
        + " kubectl is the control plane's own build, not the one named above.",
        f"- Push to live over {args.pushes} pushes for the reconciler and Flux, "
        f"{args.kubectl_pushes} for kubectl (each a whole `apply`).",
    ]
    results: dict[int, dict[str, dict[str, Any]]] = {}

    def measured() -> None:
        text = "\n".join(real.report(results, notes))
        write_section(args.output, text, REAL_SECTION, first=False)

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-real-") as scratch:
        for count in args.specs:
            specs = plan_specs(count, kserve=bool(crd_dirs))
            real.run_all(
                Path(scratch) / f"n{count}",
                specs,
                systems,
                crd_dirs,
                home,
                args.pushes,
                args.kubectl_pushes,
                results.setdefault(count, {}),
                measured,
            )
    print(args.output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
