"""Wiring: build every part of a running reconciler from Settings, start it, stop it cleanly.

Used by ``reconciler run``, ``reconciler demo`` and the end-to-end tests, so all three run the
same assembly.
"""

from __future__ import annotations

import functools
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from reconciler import backoff
from reconciler.cluster.client import Connection, KubeClient
from reconciler.cluster.events import EventRecorder
from reconciler.cluster.lease import LeaderElector
from reconciler.config import Settings
from reconciler.delivery.prometheus import Prometheus, load_token
from reconciler.engine import EngineOptions, build_engine
from reconciler.errors import ApiError, ConfigError, SourceError
from reconciler.httpserver import ServiceServer
from reconciler.metrics import Metrics
from reconciler.notify import Notifier
from reconciler.source.credentials import Credentials
from reconciler.source.git import GitSource, local_repository_path
from reconciler.source.verify import CommitVerifier
from reconciler.source.watch import RepositoryWatcher
from reconciler.source.webhook import HOOK_PATH, WebhookReceiver, load_secret
from reconciler.specs.loader import read_config
from reconciler.status.branch import RepositoryStatusWriter
from reconciler.status.writer import StatusWriter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Opened:
    """What ``Service.open`` read and opened for a service: secrets, keys, the Git cache, the
    status branch and the API connections."""

    source: GitSource
    status: StatusWriter
    client: KubeClient
    elector_client: KubeClient | None = None  # a connection of its own for leader election
    metrics: Metrics = field(default_factory=Metrics)
    verifier: CommitVerifier | None = None
    webhook_secret: bytes | None = None
    tempdir: tempfile.TemporaryDirectory[str] | None = None
    prometheus: Prometheus | None = None  # where canary analyses query their metrics


class Service:
    @classmethod
    def open(cls, settings: Settings, client: KubeClient | None = None) -> Service:
        """Read the files the settings name, open the Git cache, learn the status branch (a
        fetch and a read of reconciler.yaml) and connect; then assemble the service.

        Raises ConfigError for unusable settings and SourceError for a cache directory that is
        not a Git cache; the constructor itself does no I/O.
        """
        source = settings.source
        if source.webhook_secret_file is not None and settings.service.metrics_port is None:
            raise ConfigError(
                "--webhook-secret-file needs --metrics-port: the hook is served there"
            )
        webhook_secret = (
            load_secret(source.webhook_secret_file) if source.webhook_secret_file else None
        )
        verifier = None
        if source.verify_commits:
            assert source.trusted_keys_dir is not None  # the settings model insists
            verifier = CommitVerifier.from_directory(source.trusted_keys_dir)
        tempdir = None
        cache_dir = source.cache_dir
        if cache_dir is None:
            tempdir = tempfile.TemporaryDirectory(prefix="reconciler-")
            cache_dir = Path(tempdir.name) / "source"
        credentials = None
        if source.token_file or source.ssh_key_file:
            credentials = Credentials.from_files(
                token_file=source.token_file,
                ssh_key_file=source.ssh_key_file,
                passphrase_file=source.ssh_key_passphrase_file,
            )
        git = GitSource(
            source.repo, source.branch, Path(cache_dir), credentials, source.git_timeout
        )
        status_branch = source.status_branch or _configured_status_branch(git)
        # The operator's branch is written as given; one the repository names only once it is
        # known to be new or the reconciler's own (reconciler.status.branch).
        writer = (
            StatusWriter
            if source.status_branch
            else functools.partial(RepositoryStatusWriter, source.branch)
        )
        status = writer(
            git.repo,
            git.url,  # without a token: that is in git.credentials
            status_branch,
            git.credentials,
            timeout=source.git_timeout,
        )
        metrics = Metrics()
        connection = Connection(
            kubeconfig=settings.cluster.kubeconfig,
            context=settings.cluster.context,
            in_cluster=settings.cluster.in_cluster,
            service_account=settings.cluster.service_account,
        )

        def connect() -> KubeClient:
            return KubeClient.connect(
                connection, on_error=lambda error: metrics.api_errors.labels(error.reason).inc()
            )

        main = client or connect()
        elector_client = None
        if settings.cluster.leader_elect:
            # A connection of its own: renewals never queue behind watches and applies.
            elector_client = connect() if client is None else client
        opened = Opened(
            git, status, main, elector_client, metrics, verifier, webhook_secret, tempdir,
            _prometheus(settings),
        )  # fmt: skip
        return cls(settings, opened)

    def __init__(self, settings: Settings, opened: Opened) -> None:
        self.settings = settings
        source = settings.source
        self.verifier = opened.verifier
        self._tempdir = opened.tempdir
        self.metrics = opened.metrics
        self.source = opened.source
        self.client = opened.client
        self.status = opened.status
        webhook_secret = opened.webhook_secret
        self.engine = build_engine(
            self.source,
            self.client,
            self.status,
            EngineOptions(
                instance=settings.instance(),
                max_prune_fraction=settings.cluster.max_prune_fraction,
                allow_prune=settings.cluster.allow_prune,
                apply_concurrency=settings.cluster.apply_concurrency,
                limits=settings.tenancy.limits(),
                max_fetch_backoff=settings.source.interval,
                max_retry_backoff=min(60.0, settings.service.resync_interval),
                watch_namespaces=tuple(settings.tenancy.allowed_namespaces or ())
                if settings.tenancy.namespaced
                else None,
            ),
            self.metrics,
            verifier=self.verifier,
            analysis_metrics=opened.prometheus,
        )
        self.elector: LeaderElector | None = None
        cluster = settings.cluster
        if opened.elector_client is not None:
            self.elector = LeaderElector(
                opened.elector_client,
                cluster.lease_namespace,
                cluster.lease_name,
                cluster.leader_identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}",
                lease_duration=cluster.lease_duration,
                renew_deadline=cluster.renew_deadline,
                retry_period=cluster.retry_period,
                on_lost=self.engine.stopping.set,  # stop writing at once
            )
            self.engine.may_write = self.elector.holds
        self.metrics.queue_depth.set_function(self.engine.queue.qsize)
        # Events and notifications tell people what each reconcile did, from threads of their
        # own: neither slows the loop, neither can fail a reconcile.
        self.events = EventRecorder(self.client, settings.instance(), self.metrics)
        self.notifier = Notifier(settings.notify.notify_receivers, self.metrics)
        self.engine.observers += [self.events, self.notifier]
        self.engine.telling = lambda: self.events.pending or self.notifier.pending
        self.server: ServiceServer | None = None
        port = settings.service.metrics_port
        if port is not None:
            self.server = ServiceServer(
                port,
                self.metrics.registry,
                self.readiness,
                liveness=self.liveness,
                timeout=settings.service.http_timeout,
            )
            if webhook_secret is not None:
                receiver = WebhookReceiver(
                    webhook_secret,
                    source.repo,
                    source.branch,
                    lambda: self.engine.trigger("webhook"),
                )
                self.server.add_post(HOOK_PATH, receiver.handle)
        self.watcher: RepositoryWatcher | None = None
        local = local_repository_path(source.repo)
        if local is not None:
            self.watcher = RepositoryWatcher(
                local, source.branch, lambda: self.engine.trigger("commit")
            )
        self._poller: threading.Thread | None = None
        # Why the engine could not start yet (the API server unreachable), for /readyz.
        self.start_error: str | None = None

    def liveness(self) -> tuple[bool, str]:
        """Failing once a reconcile has run longer than --stuck-after: restart a stuck worker."""
        began = self.engine.busy_since
        bound = self.settings.service.stuck_after
        if began is not None and time.monotonic() - began > bound:
            running = time.monotonic() - began
            return False, f"reconcile stuck: running for {running:.0f}s, over {bound:g}s"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        if self.start_error is not None:
            return False, self.start_error
        elector = self.elector
        if elector is not None and not elector.holds():
            if elector.lost.is_set():
                return False, "leadership lost: stopping"
            # A standby is Ready, or rolling updates would wait on it forever.
            return True, f"standby; leader: {elector.holder or 'none yet'}"
        state = self.engine.state
        if state.config_error:
            return False, f"configuration refused: {state.config_error}"
        if state.source_error:
            return False, f"source unavailable: {state.source_error}"
        if self.engine.last_error is not None:
            return False, (
                f"reconcile failed ({self.engine.last_error}) {self.engine.failures} time(s) "
                "in a row; retrying"
            )
        if state.head is None:
            return False, "waiting for the first reconcile"
        return True, f"reconciled {state.head[:12]}"

    def _poll(self) -> None:
        interval = self.settings.source.interval
        resync_every = self.settings.service.resync_interval
        next_resync = time.monotonic() + resync_every
        while not self.engine.stopping.wait(min(interval, resync_every)):
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + resync_every
                self.engine.trigger("resync")
            else:
                self.engine.trigger("poll")

    def start(self, give_up_after: float | None = None) -> None:
        """Everything but the worker loop: caches primed, triggers armed, probes answering.

        An API server that cannot be reached is retried with backoff while /readyz says why;
        ``give_up_after`` seconds (default: never) bounds that, then the ApiError is raised.
        """
        if self.server is not None:
            self.server.start()
        if self.elector is not None:
            self.elector.start()
            # Nothing below runs on a standby: no cache, no poll, no write until elected.
            while not self.elector.leading.wait(0.5):
                if self.engine.stopping.is_set():
                    return
        self.events.start()
        self.notifier.start()
        if not self._start_engine(give_up_after):
            return
        if self.watcher is not None:
            self.watcher.start()
        self._poller = threading.Thread(target=self._poll, name="poll", daemon=True)
        self._poller.start()

    def _start_engine(self, give_up_after: float | None) -> bool:
        """Start the engine, retrying while the API fails; False when stopped meanwhile."""
        began = time.monotonic()
        failures = 0
        while True:
            try:
                self.engine.start()
            except ApiError as exc:
                failures += 1
                wait = backoff.delay(failures, base=0.5, cap=30.0)
                self.start_error = _api_unreachable(self.client.host, exc)
                log.warning("api_unreachable", reason=str(exc), retry_in=round(wait, 2))
                if give_up_after is not None and time.monotonic() + wait - began > give_up_after:
                    raise
                if self.engine.stopping.wait(wait):
                    return False
            else:
                self.start_error = None
                return True

    def run_forever(self) -> None:
        self.engine.run_forever()

    def stop(self) -> None:
        self.engine.stop()
        # Before the client closes: what the last reconcile did is still posted.
        self.events.stop()
        self.notifier.stop()
        if self.elector is not None:
            # After the engine: the Lease is handed over only once nothing more is written.
            self.elector.stop(release=True)
            if self.elector.client is not self.client:
                self.elector.client.close()
        if self.watcher is not None:
            self.watcher.stop()
        if self.server is not None:
            self.server.stop()
        self.client.close()
        if self.verifier is not None:
            self.verifier.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()


def _prometheus(settings: Settings) -> Prometheus | None:
    """The metrics canary analyses read, with its bearer token read now; None when unset."""
    delivery = settings.delivery
    if delivery.prometheus_url is None:
        return None
    token_file = delivery.prometheus_token_file
    token = load_token(token_file) if token_file is not None else None
    return Prometheus(delivery.prometheus_url, token)


def _configured_status_branch(source: GitSource) -> str:
    """``statusBranch`` of the repository's reconciler.yaml at the tip, read once at start;
    ``status`` when it names none, is broken or cannot be fetched."""
    try:
        head = source.fetch()
    except SourceError as exc:
        log.warning("status_branch_unknown", reason=str(exc), using="status")
        return "status"
    return read_config(source.repo, head).status_branch


def _api_unreachable(host: str, exc: ApiError) -> str:
    """The /readyz reason: where the API server is (no credentials) and what it answered."""
    parts = urlsplit(host)
    where = parts.hostname or host
    if parts.port is not None:
        where = f"{where}:{parts.port}"
    if exc.status == 0:
        return f"API server unreachable at {where}: {exc.message}"
    return f"API server at {where} refused the start: {exc}"
