"""reconciler: a GitOps control loop for machine-learning workloads on Kubernetes."""

__version__ = "0.1.0"
