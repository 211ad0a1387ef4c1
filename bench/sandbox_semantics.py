"""Throughput of the sandbox's semantic modules on a typical rendered Deployment.

    python bench/sandbox_semantics.py [--seconds 2]

Prints validations/s, applies/s (a re-apply onto the live object, the reconciler's steady
state) and the whole server-side apply path (validate, apply, default, validate again).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

from reconciler_sandbox.defaults import default_object
from reconciler_sandbox.fieldmanager import apply, list_keys_for
from reconciler_sandbox.validation import Validator

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "ml",
        "labels": {
            "app.kubernetes.io/managed-by": "reconciler",
            "mlops/spec-kind": "ModelDeployment",
            "mlops/spec-name": "web",
        },
        "annotations": {"mlops/spec-hash": "0123456789abcdef", "mlops/source-commit": "a" * 40},
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"mlops/spec-name": "web"}},
        "template": {
            "metadata": {"labels": {"mlops/spec-name": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "registry.example/models/server:1.4",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "env": [
                            {"name": "MODEL_URI", "value": "s3://models/web"},
                            {"name": "WORKERS", "value": "4"},
                            {
                                "name": "TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": "hub", "key": "token"}},
                            },
                        ],
                        "resources": {
                            "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
                            "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
                        },
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    }
                ]
            },
        },
    },
}


def rate(name: str, seconds: float, step: Callable[[], object]) -> None:
    for _ in range(50):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{name:<34} {count / elapsed:>10,.0f}/s  {elapsed / count * 1e6:>8.1f} us each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    validator = Validator()
    keys = list_keys_for("apps/v1", "Deployment")
    live = default_object(apply(None, DEPLOYMENT, "reconciler", True, "t0", keys))

    def full_apply() -> object:
        config = validator.validate(DEPLOYMENT, "Strict").obj
        merged = apply(live, config, "reconciler", True, "t1", keys)
        return validator.validate(default_object(merged), "Strict")

    rate("validate (Strict)", seconds, lambda: validator.validate(DEPLOYMENT, "Strict"))
    rate("default_object", seconds, lambda: default_object(DEPLOYMENT))
    rate(
        "apply (re-apply onto live)",
        seconds,
        lambda: apply(live, DEPLOYMENT, "reconciler", True, "t1", keys),
    )
    rate("validate + apply + default + validate", seconds, full_apply)
    rate("deepcopy (for scale)", seconds, lambda: copy.deepcopy(live))


if __name__ == "__main__":
    main()
