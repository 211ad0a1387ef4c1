"""The protobuf request bodies kubectl's typed commands send, decoded to the JSON they stand for."""

from __future__ import annotations

import pytest

from reconciler_sandbox import protobuf
from reconciler_sandbox.errors import StatusError

# `kubectl create namespace ml`, as captured with -v=8: every non-pointer string is on the wire.
NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121a0a120a026d6c12001a00220"
    "02a00320038004200120"
    "01a020a001a002200"
)


def test_namespace_from_kubectl_create():
    assert protobuf.decode(NAMESPACE) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "ml"},
    }


def test_pointer_fields_keep_their_zero_and_quantities_and_int_or_string_read_as_json():
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    spec = bytes([1 << 3, 0])  # replicas: 0 (a pointer: kept)
    spec += bytes([5 << 3, 0])  # minReadySeconds: 0 (omitempty: dropped)
    container = field(1, b"web") + field(
        8, field(1, field(1, b"cpu") + field(2, field(1, b"500m")))
    )  # resources.limits
    strategy = field(2, field(1, bytes([1 << 3, 1]) + field(3, b"25%")))  # maxUnavailable
    spec += field(3, field(2, field(2, container))) + field(4, strategy)
    raw = field(1, b"web")
    envelope = field(1, field(1, b"apps/v1") + field(2, b"Deployment"))
    envelope += field(2, field(1, raw) + field(2, spec))
    assert protobuf.decode(protobuf.MAGIC + envelope) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "template": {
                "spec": {"containers": [{"name": "web", "resources": {"limits": {"cpu": "500m"}}}]}
            },
            "strategy": {"rollingUpdate": {"maxUnavailable": "25%"}},
        },
    }


def test_unknown_kinds_and_broken_bodies_are_refused():
    with pytest.raises(StatusError) as unknown:
        protobuf.decode(NAMESPACE.replace(b"Namespace", b"Nonesuchs"))
    assert unknown.value.code == 415
    with pytest.raises(StatusError) as broken:
        protobuf.decode(NAMESPACE[:-3] + b"\xff")
    assert broken.value.code == 400
    with pytest.raises(StatusError) as no_magic:
        protobuf.decode(b'{"kind": "Namespace"}')
    assert no_magic.value.code == 400
