"""The engine with its real parts: discovery, two watch caches and the writer over one client.

Nothing here does I/O: the caches are primed by ``Engine.start``.
"""

from __future__ import annotations

from reconciler import labels
from reconciler.cluster.apply import Writer
from reconciler.cluster.cache import WatchCache
from reconciler.cluster.client import KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.delivery.provider import MetricsProvider
from reconciler.lifecycle import pod_essentials
from reconciler.metrics import Metrics
from reconciler.source.verify import CommitVerifier
from reconciler.status.writer import StatusWriter

from .inbox import Inbox
from .loop import Engine
from .options import MANAGED_KINDS, EngineOptions
from .ports import Cluster, Source


def build_engine(
    source: Source,
    client: KubeClient,
    status: StatusWriter,
    options: EngineOptions,
    metrics: Metrics | None = None,
    verifier: CommitVerifier | None = None,
    analysis_metrics: MetricsProvider | None = None,
) -> Engine:
    inbox = Inbox()
    discovery = Discovery(client)
    namespaces = options.watch_namespaces
    objects = WatchCache(
        client,
        discovery,
        MANAGED_KINDS,
        f"{labels.MANAGED_SELECTOR},{labels.INSTANCE}={options.instance}",
        inbox.on_watch,
        namespaces=namespaces,
        on_kinds=inbox.on_kinds,
    )
    pods = WatchCache(
        client,
        discovery,
        [("v1", "Pod")],
        labels.RUN_HASH,
        inbox.on_watch,
        keep=pod_essentials,
        namespaces=namespaces,
        on_kinds=inbox.on_kinds,
    )
    writer = Writer(
        client,
        discovery,
        objects,
        concurrency=options.apply_concurrency,
        stopping=inbox.stopping,
    )
    cluster = Cluster(kinds=discovery, objects=objects, pods=pods, writer=writer)
    return Engine(
        source,
        cluster,
        status,
        options,
        inbox=inbox,
        metrics=metrics,
        verifier=verifier,
        analysis_metrics=analysis_metrics,
    )
