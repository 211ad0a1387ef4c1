"""JSON patch (RFC 6902 appendix A), merge patch (RFC 7386 appendix A), strategic merge."""

from __future__ import annotations

import pytest

from reconciler_sandbox.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

RFC6902 = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    (
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    (
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), RFC6902)
def test_json_patch_rfc_examples(doc, ops, expected):
    assert json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    ("doc", "ops", "code"),
    [
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], 422),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], 422),
        ({"foo": "bar"}, [{"op": "remove", "path": "/nothing"}], 422),
        ({"foo": "bar"}, [{"op": "replace", "path": "/nothing", "value": 1}], 422),
        ({"foo": "bar"}, [{"op": "frobnicate", "path": "/foo"}], 400),
        ({"foo": "bar"}, {"op": "add"}, 400),
    ],
)
def test_json_patch_errors(doc, ops, code):
    with pytest.raises(PatchError) as caught:
        json_patch(doc, ops)
    assert caught.value.code == code


def test_json_patch_does_not_touch_its_input():
    doc = {"a": {"b": [1]}}
    json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 2}])
    assert doc == {"a": {"b": [1]}}


RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), RFC7386)
def test_merge_patch_rfc_examples(doc, patch, expected):
    assert merge_patch(doc, patch) == expected


POD_SPEC = {
    "containers": [
        {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}], "args": ["--x"]},
        {"name": "sidecar", "image": "envoy:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def _deployment(pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod_spec}}}


def _smp(patch_spec):
    result = strategic_merge_patch(
        _deployment(POD_SPEC), _deployment(patch_spec), "apps/v1", "Deployment"
    )
    return result["spec"]["template"]["spec"]


def test_containers_merge_by_name():
    result = _smp(
        {"containers": [{"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}
    )
    assert result["containers"][0] == {
        "name": "web",
        "image": "nginx:2",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "args": ["--x"],
    }
    assert result["containers"][1] == POD_SPEC["containers"][1]


def test_patch_delete_removes_a_list_item():
    result = _smp({"containers": [{"name": "sidecar", "$patch": "delete"}]})
    assert [c["name"] for c in result["containers"]] == ["web"]


def test_patch_replace_replaces_a_list_or_map():
    result = _smp({"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]})
    assert result["containers"] == [{"name": "only", "image": "x"}]
    result = _smp(
        {"volumes": [{"name": "data", "emptyDir": {"$patch": "replace", "medium": "Memory"}}]}
    )
    assert result["volumes"] == [{"name": "data", "emptyDir": {"medium": "Memory"}}]


def test_atomic_lists_and_null():
    result = _smp({"containers": [{"name": "web", "args": ["--y"], "image": None}]})
    assert result["containers"][0]["args"] == ["--y"]
    assert "image" not in result["containers"][0]


def test_retain_keys_and_element_order():
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": strategy}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(obj, patch, "apps/v1", "Deployment")["spec"]["strategy"] == {
        "type": "Recreate"
    }
    ordered = _smp({"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]})
    assert [c["name"] for c in ordered["containers"]] == ["sidecar", "web"]


def test_service_ports_merge_by_port():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "spec": {"ports": [{"port": 80, "name": "http"}]},
    }
    patch = {"spec": {"ports": [{"port": 443, "name": "https"}, {"port": 80, "targetPort": 8080}]}}
    result = strategic_merge_patch(service, patch, "v1", "Service")
    assert result["spec"]["ports"] == [
        {"port": 80, "name": "http", "targetPort": 8080},
        {"port": 443, "name": "https"},
    ]


def test_custom_resources_have_no_strategic_merge():
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch({}, {}, "kubeflow.org/v1", "PyTorchJob")
    assert caught.value.code == 415
