"""Prometheus metrics, kept in one registry per service so tests never share counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconcile_seconds = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Wall time of one reconcile",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.specs_by_phase = Gauge(
            "reconciler_specs", "Specs by kind and phase", ["kind", "phase"], registry=r
        )
        self.writes = Counter(
            "reconciler_api_writes_total",
            "Applies and deletions by verb and result",
            ["verb", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "reconciler_reconcile_errors_total",
            "Reconciles that raised an unexpected error, by error type; each is retried",
            ["error"],
            registry=r,
        )
        self.api_errors = Counter(
            "reconciler_api_errors_total", "Kubernetes API errors by reason", ["reason"], registry=r
        )
        self.git_errors = Counter(
            "reconciler_git_errors_total", "Git failures by operation", ["operation"], registry=r
        )
        self.status_commits = Counter(
            "reconciler_status_commits_total", "Commits pushed to the status branch", registry=r
        )
        self.source = Info("reconciler_source", "Source revision last reconciled", registry=r)
        self.prune_guard = Gauge(
            "reconciler_prune_guard_held", "1 while the prune guard holds deletions", registry=r
        )
        self.queue_depth = Gauge(
            "reconciler_queue_depth",
            "Events (commits, watch events, timers) waiting for the worker",
            registry=r,
        )
        self.events = Counter(
            "reconciler_kube_events_total",
            "Kubernetes Events by result: posted, failed or dropped (queue full)",
            ["result"],
            registry=r,
        )
        self.notifications = Counter(
            "reconciler_notifications_total",
            "Phase-change notifications by receiver and result: sent, failed or dropped",
            ["receiver", "result"],
            registry=r,
        )
