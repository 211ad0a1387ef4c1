"""Requests per second against a sandbox from one keep-alive connection.

    python bench/sandbox_speed.py [--seconds 3]

Measures, over a single HTTPS keep-alive connection: GETs of one Deployment; server-side applies
of it that alternate a label (every apply is a real write: new resourceVersion, watch event);
applies that alternate spec.replicas (each also sets the simulated controller writing status
twice); applies of an unchanged manifest (no-ops). Then the same GETs through the official
Python client, for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import time

from kubernetes import client

from reconciler_sandbox.testing import running_sandbox

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "bench", "namespace": "default", "labels": {"app": "bench"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "bench"}},
        "template": {
            "metadata": {"labels": {"app": "bench"}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "nginx:1.27",
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    }
                ]
            },
        },
    },
}
PATH = "/apis/apps/v1/namespaces/default/deployments/bench"


def rate(seconds: float, request: object) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        request()  # type: ignore[operator]
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with running_sandbox(deployment_delay=0.0) as sandbox:
        context = ssl.create_default_context(cafile=str(sandbox.ca_path))
        conn = http.client.HTTPSConnection("127.0.0.1", sandbox.port, context=context)
        auth = {"Authorization": f"Bearer {sandbox.token}"}

        def call(method: str, path: str, body: bytes | None = None, **headers: str) -> bytes:
            conn.request(method, path, body=body, headers={**auth, **headers})
            response = conn.getresponse()
            data = response.read()
            assert response.status < 300, data
            return data

        counter = iter(range(10**9))

        def apply(change: str) -> None:
            body = json.loads(json.dumps(DEPLOYMENT))
            if change == "label":
                body["metadata"]["labels"]["round"] = str(next(counter) % 2)
            elif change == "replicas":
                body["spec"]["replicas"] = 1 + next(counter) % 2
            call(
                "PATCH",
                PATH + "?fieldManager=bench&force=true",
                json.dumps(body).encode(),
                **{"Content-Type": "application/apply-patch+yaml"},
            )

        apply("none")
        rates = {
            "GET": rate(args.seconds, lambda: call("GET", PATH)),
            "server-side apply, label change": rate(args.seconds, lambda: apply("label")),
            "server-side apply, replicas change (+2 controller writes)": rate(
                args.seconds, lambda: apply("replicas")
            ),
            "server-side apply, no change": rate(args.seconds, lambda: apply("none")),
        }
        apps = client.AppsV1Api(sandbox.api_client())
        rates["GET through kubernetes.client"] = rate(
            args.seconds, lambda: apps.read_namespaced_deployment("bench", "default")
        )
    for name, value in rates.items():
        print(f"{name:58} {value:7.0f}/s")


if __name__ == "__main__":
    main()
