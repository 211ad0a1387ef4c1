"""The checks kube-apiserver makes beyond the OpenAPI schema, for what a renderer can get wrong.

Messages are the real server's (k8s.io/apimachinery/pkg/util/validation and
pkg/apis/core/validation), so a test that matches on them matches a cluster too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from reconciler.quantity import QuantityError, parse
from reconciler_sandbox.structural import Cause, show

Obj = dict[str, Any]

MAX_ANNOTATIONS_BYTES = 262144
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[-a-z0-9]+$")

DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
# Kinds whose names are DNS labels rather than subdomains (everything else: subdomain).
_LABEL_NAMED = {("v1", "Namespace"): "1123", ("v1", "Service"): "1035"}
_CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"}
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, "FieldValueInvalid", f"Invalid value: {show(value)}: {detail}")


def check_object(obj: Obj, builtin: bool) -> list[Cause]:
    """Every semantic cause for ``obj``; ``builtin`` adds the per-kind rules."""
    causes = list(_metadata(obj, "metadata", top=True))
    if not builtin:
        return causes
    key = (obj.get("apiVersion"), obj.get("kind"))
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if key == ("apps/v1", "Deployment"):
        causes += _template(spec, "spec.template", restart=("Always",))
        causes += _selector_matches(spec)
    elif key == ("batch/v1", "Job"):
        causes += _template(spec, "spec.template", restart=("OnFailure", "Never"))
    elif key == ("batch/v1", "CronJob"):
        job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        causes += _template(
            job_spec, "spec.jobTemplate.spec.template", restart=("OnFailure", "Never")
        )
    elif key == ("v1", "Pod"):
        causes += _pod_spec(spec, "spec")
    elif key == ("v1", "Service"):
        causes += _service_ports(spec)
    return causes


def name_cause(name: str, rule: str, field: str) -> Cause | None:
    """A cause when ``name`` breaks ``rule``: "subdomain" (DNS-1123), "1123" or "1035" label."""
    problem = name_problem(name, rule)
    return None if problem is None else _invalid(field, name, problem)


def name_problem(name: str, rule: str) -> str | None:
    pattern, message, limit = {
        "subdomain": (_DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MESSAGE, 253),
        "1123": (_DNS1123_LABEL, DNS1123_LABEL_MESSAGE, 63),
        "1035": (_DNS1035_LABEL, DNS1035_LABEL_MESSAGE, 63),
    }[rule]
    if len(name) > limit:
        return f"must be no more than {limit} characters"
    if not pattern.match(name):
        return message
    return None


def _metadata(obj: Obj, path: str, top: bool) -> Iterator[Cause]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        if top:
            yield Cause(
                f"{path}.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        return
    if top:
        name = metadata.get("name")
        if not name and not metadata.get("generateName"):
            yield Cause(
                f"{path}.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        elif isinstance(name, str) and name:
            rule = _LABEL_NAMED.get((obj.get("apiVersion"), obj.get("kind")), "subdomain")
            cause = name_cause(name, rule, f"{path}.name")
            if cause:
                yield cause
        namespace = metadata.get("namespace")
        if isinstance(namespace, str) and namespace and obj.get("kind") not in _CLUSTER_SCOPED:
            cause = name_cause(namespace, "1123", f"{path}.namespace")
            if cause:
                yield cause
    yield from _labels(metadata.get("labels"), f"{path}.labels")
    yield from _annotations(metadata.get("annotations"), f"{path}.annotations")


def _qualified_name(key: str, field: str) -> Iterator[Cause]:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        yield _invalid(field, key, "prefix part must be non-empty")
    elif prefix:
        problem = name_problem(prefix, "subdomain")
        if problem:
            yield _invalid(field, key, f"prefix part {problem}")
    if not name:
        yield _invalid(field, key, "name part must be non-empty")
    elif len(name) > 63:
        yield _invalid(field, key, "name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.match(name):
        yield _invalid(field, key, _QUALIFIED_NAME_MESSAGE)


def _labels(labels: Any, field: str) -> Iterator[Cause]:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        yield from _qualified_name(key, field)
        if not isinstance(value, str):
            continue
        if len(value) > 63:
            yield _invalid(field, value, "must be no more than 63 characters")
        elif not _LABEL_VALUE.match(value):
            yield _invalid(field, value, _LABEL_VALUE_MESSAGE)


def _annotations(annotations: Any, field: str) -> Iterator[Cause]:
    if not isinstance(annotations, dict):
        return
    total = 0
    for key, value in annotations.items():
        yield from _qualified_name(key.lower(), field)
        total += len(key.encode()) + (len(value.encode()) if isinstance(value, str) else 0)
    if total > MAX_ANNOTATIONS_BYTES:
        yield Cause(
            field,
            "FieldValueTooLong",
            f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes",
        )


def _template(spec: Obj, path: str, restart: tuple[str, ...]) -> list[Cause]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return []
    causes = list(_metadata(template, f"{path}.metadata", top=False))
    pod_spec = template.get("spec")
    if isinstance(pod_spec, dict):
        causes += _pod_spec(pod_spec, f"{path}.spec")
        policy = pod_spec.get("restartPolicy")
        if policy is not None and policy not in restart:
            supported = ", ".join(f'"{p}"' for p in restart)
            causes.append(
                Cause(
                    f"{path}.spec.restartPolicy",
                    "FieldValueNotSupported",
                    f"Unsupported value: {show(policy)}: supported values: {supported}",
                )
            )
    return causes


def _pod_spec(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(Cause(f"{path}.containers", "FieldValueRequired", "Required value"))
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(key) or ()):
            if isinstance(container, dict):
                causes += _container(container, f"{path}.{key}[{index}]", names)
    return causes


def _container(container: Obj, path: str, names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    name = container.get("name")
    if isinstance(name, str):
        if name in names:
            causes.append(
                Cause(f"{path}.name", "FieldValueDuplicate", f"Duplicate value: {show(name)}")
            )
        names.add(name)
        cause = name_cause(name, "1123", f"{path}.name")
        if cause:
            causes.append(cause)
    if not container.get("image"):
        causes.append(Cause(f"{path}.image", "FieldValueRequired", "Required value"))
    for index, port in enumerate(container.get("ports") or ()):
        if isinstance(port, dict) and isinstance(port.get("name"), str):
            causes += _port_name(port["name"], f"{path}.ports[{index}].name")
    resources = container.get("resources")
    if isinstance(resources, dict):
        causes += _resources(resources, f"{path}.resources")
    return causes


def _port_name(name: str, field: str) -> list[Cause]:
    """IANA_SVC_NAME, the rule for container port names and named target ports."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _IANA_SVC_NAME.match(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return [_invalid(field, name, problem) for problem in problems]


def _resources(resources: Obj, path: str) -> list[Cause]:
    requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
    limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
    causes: list[Cause] = []
    for name, value in requests.items():
        field = f"{path}.requests[{name}]"
        amount, limit = _amount(value), _amount(limits.get(name))
        if amount is None:
            continue
        if name not in _STANDARD_RESOURCES and "/" in name:
            # Extended resources (nvidia.com/gpu) cannot be overcommitted.
            if limit is None:
                causes.append(
                    Cause(
                        f"{path}.limits",
                        "FieldValueRequired",
                        "Required value: Limit must be set for non overcommitable resources",
                    )
                )
            elif amount != limit:
                causes.append(
                    _invalid(field, value, f"must be equal to {name} limit of {limits[name]}")
                )
        elif limit is not None and amount > limit:
            causes.append(
                _invalid(
                    field, value, f"must be less than or equal to {name} limit of {limits[name]}"
                )
            )
    return causes


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse(value)[0]
    except QuantityError:
        return None


def _selector_matches(spec: Obj) -> list[Cause]:
    selector = spec.get("selector")
    template = spec.get("template")
    if not isinstance(selector, dict) or not isinstance(template, dict):
        return []
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return [_invalid("spec.selector", selector, "empty selector is invalid for deployment")]
    labels = (template.get("metadata") or {}).get("labels") or {}
    if _selects(selector, labels):
        return []
    return [
        _invalid(
            "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
        )
    ]


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or ():
        key, operator = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or ()
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not ok:
            return False
    return True


def _service_ports(spec: Obj) -> list[Cause]:
    ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        name = port.get("name")
        if not name:
            if len(ports) > 1:
                causes.append(Cause(f"{path}.name", "FieldValueRequired", "Required value"))
        elif isinstance(name, str):
            cause = name_cause(name, "1123", f"{path}.name")
            if cause:
                causes.append(cause)
            if name in names:
                causes.append(
                    Cause(f"{path}.name", "FieldValueDuplicate", f"Duplicate value: {show(name)}")
                )
            names.add(name)
        target = port.get("targetPort")
        if isinstance(target, str):
            causes += _port_name(target, f"{path}.targetPort")
    return causes
