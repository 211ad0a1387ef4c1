"""Progressive delivery: canaries stepped through traffic weights by live metric checks, then
promoted or rolled back (docs/progressive-delivery.md).

    analysis    the pure state machine and its record in the status file
    queries     the PromQL of a metric for one canary
    provider    the metrics interface (MetricsProvider, MetricsError)
    prometheus  the Prometheus HTTP API behind it
    runner      the engine's hooks: state from status, checks when due, timed wake-ups
    explain     an analysis in words, for ``reconciler plan``
"""

from reconciler.delivery.provider import MetricsError, MetricsProvider

__all__ = ["MetricsError", "MetricsProvider"]
