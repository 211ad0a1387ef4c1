from reconciler.cluster.client import decode


def test_decoded_objects_share_keys_and_short_values():
    first = decode(b'{"kind": "Service", "spec": {"type": "ClusterIP"}}')
    second = decode(b'{"kind": "Service", "spec": {"type": "ClusterIP"}}')
    assert first == second == {"kind": "Service", "spec": {"type": "ClusterIP"}}
    key_first = next(k for k in first if k == "kind")
    key_second = next(k for k in second if k == "kind")
    assert key_first is key_second
    assert first["spec"]["type"] is second["spec"]["type"]
