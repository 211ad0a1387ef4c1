"""The API permissions the reconciler needs, in RBAC terms, and what a set of RBAC objects grants.

``required()`` derives the needed permissions from what each part of the code does:

    WatchCache        list + watch every managed kind, and Pods (termination messages)
    Writer.apply_one  server-side apply: patch, and create (see below)
    Writer.delete_one delete
    Writer.lookup     get (or list, for many in one namespace): who holds it, before a create
    Writer.ensure_namespace   get + create Namespaces
    Discovery         GET /apis and each /api/v1, /apis/<group>/<version> (non-resource URLs)
    LeaderElector     get + create + update its Lease, in its own namespace
    EventRecorder     create events.k8s.io Events, and patch one whose series a repeat extends

``request_permissions()`` maps one HTTP request to what the API server's authorizer checks for it
(its RequestInfo: the verb from the method and the path, ``watch=true`` making a list a watch),
so a recorded run can be compared with ``required()``. A server-side apply is a PATCH, but an apply
that creates the object is also authorized as ``create``; every apply therefore needs both.

``Grants`` reads Roles, ClusterRoles and their bindings and answers whether a service account is
allowed a permission, the way RBAC evaluates rules (verbs, apiGroups, resources, resourceNames,
nonResourceURLs; a RoleBinding limits its role to its namespace).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.cluster.client import APPLY_PATCH

# The default ClusterRole system:discovery, bound to every authenticated user by the default
# ClusterRoleBinding of the same name: nothing in deploy/ needs to grant discovery.
DISCOVERY_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/version", "/version/")


@dataclass(frozen=True, order=True)
class Permission:
    """One authorization check: a verb on a resource (or on a non-resource URL)."""

    verb: str
    group: str = ""
    resource: str = ""  # "" for a non-resource URL
    namespace: str | None = None  # None: every namespace, or a cluster-scoped resource
    name: str | None = None  # None: any object of the resource
    url: str = ""  # a non-resource URL such as /apis

    def __str__(self) -> str:
        if self.url:
            return f"{self.verb} {self.url}"
        where = f" in {self.namespace}" if self.namespace else ""
        named = f"/{self.name}" if self.name else ""
        group = self.group or "core"
        return f"{self.verb} {group}/{self.resource}{named}{where}"

    def anywhere(self) -> Permission:
        """The same check for any object in any namespace (to compare across runs)."""
        return Permission(self.verb, self.group, self.resource, url=self.url)


def plural(kind: str) -> str:
    """The resource name the API server derives from a kind (lower case, pluralised)."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def required(
    managed_kinds: Iterable[tuple[str, str]],
    watched_kinds: Iterable[tuple[str, str]] = (("v1", "Pod"),),
    lease: tuple[str, str] | None = None,
) -> frozenset[Permission]:
    """What the code needs: managed kinds are watched, looked up, applied and pruned; others
    only watched.

    ``lease`` is the (namespace, name) of the leader-election Lease, None without election.
    """
    needed: set[Permission] = set()
    for api_version, kind in managed_kinds:
        for verb in ("get", "list", "watch", "patch", "create", "delete"):
            needed.add(Permission(verb, group_of(api_version), plural(kind)))
    for api_version, kind in watched_kinds:
        for verb in ("list", "watch"):
            needed.add(Permission(verb, group_of(api_version), plural(kind)))
    for verb in ("get", "create"):
        needed.add(Permission(verb, "", "namespaces"))
    for verb in ("create", "patch"):
        needed.add(Permission(verb, "events.k8s.io", "events"))
    for url in ("/apis", "/api/v1", "/apis/*"):
        needed.add(Permission("get", url=url))
    if lease is not None:
        namespace, name = lease
        group = "coordination.k8s.io"
        needed.add(Permission("create", group, "leases", namespace))
        for verb in ("get", "update"):
            needed.add(Permission(verb, group, "leases", namespace, name))
    return frozenset(needed)


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def request_permissions(
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    content_type: str | None = None,
) -> tuple[Permission, ...]:
    """What the API server authorizes for this request (its RequestInfo, simplified)."""
    parts = [part for part in path.split("?", 1)[0].strip("/").split("/") if part]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        rest = []
    if not rest:  # /api, /apis, /version, /api/v1, /apis/<group>/<version>: discovery
        return (Permission(method.lower(), url="/" + "/".join(parts)),)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        watching = str((query or {}).get("watch", "")).lower() in ("true", "1")
        verb = "watch" if watching else ("get" if name else "list")
    else:
        verb = _METHOD_VERBS[method]
    found = [Permission(verb, group, resource, namespace, name)]
    if method == "PATCH" and content_type == APPLY_PATCH:
        found.append(Permission("create", group, resource, namespace, name))
    return tuple(found)


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(
            frozenset(rule.get("verbs") or ()),
            frozenset(rule.get("apiGroups") or ()),
            frozenset(rule.get("resources") or ()),
            frozenset(rule.get("resourceNames") or ()),
            frozenset(rule.get("nonResourceURLs") or ()),
        )

    def allows(self, wanted: Permission) -> bool:
        if not ({"*", wanted.verb} & self.verbs):
            return False
        if wanted.url:
            return any(
                url == wanted.url or (url.endswith("*") and wanted.url.startswith(url[:-1]))
                for url in self.urls
            )
        if not ({"*", wanted.group} & self.groups) or not ({"*", wanted.resource} & self.resources):
            return False
        # A rule naming objects grants nothing on a request without a name (list, create).
        return not self.names or wanted.name in self.names

    @property
    def broad(self) -> bool:
        """Wildcards anywhere, or any access to Secrets."""
        return "*" in self.verbs | self.groups | self.resources | self.urls or bool(
            {"secrets", "secrets/*"} & self.resources
        )


@dataclass
class Grants:
    """The rules bound to one service account: cluster-wide ones, and per-namespace ones."""

    cluster: list[Rule] = field(default_factory=list)
    namespaced: dict[str, list[Rule]] = field(default_factory=dict)

    @classmethod
    def for_service_account(
        cls,
        documents: Iterable[Mapping[str, Any]],
        namespace: str,
        name: str,
        with_default_discovery: bool = True,
    ) -> Grants:
        documents = [doc for doc in documents if isinstance(doc, Mapping)]
        roles: dict[tuple[str, str, str], list[Rule]] = {}
        for doc in documents:
            if doc.get("kind") in ("Role", "ClusterRole"):
                meta = doc.get("metadata") or {}
                owner = meta.get("namespace", "") if doc["kind"] == "Role" else ""
                rules = [Rule.from_dict(rule) for rule in doc.get("rules") or ()]
                roles[(doc["kind"], owner, meta.get("name", ""))] = rules
        grants = cls()
        if with_default_discovery:
            grants.cluster.append(Rule(frozenset({"get"}), urls=frozenset(DISCOVERY_URLS)))
        for doc in documents:
            kind = doc.get("kind")
            if kind not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            subjects = doc.get("subjects") or ()
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == name
                and s.get("namespace") == namespace
                for s in subjects
            ):
                continue
            binding_ns = (doc.get("metadata") or {}).get("namespace", "")
            ref = doc.get("roleRef") or {}
            role_ns = binding_ns if ref.get("kind") == "Role" else ""
            rules = roles.get((ref.get("kind", ""), role_ns, ref.get("name", "")), [])
            if kind == "ClusterRoleBinding":
                grants.cluster.extend(rules)
            else:
                grants.namespaced.setdefault(binding_ns, []).extend(rules)
        return grants

    def allows(self, wanted: Permission) -> bool:
        if any(rule.allows(wanted) for rule in self.cluster):
            return True
        if wanted.namespace is None:
            return False
        return any(rule.allows(wanted) for rule in self.namespaced.get(wanted.namespace, ()))

    def rules(self) -> list[Rule]:
        return self.cluster + [rule for rules in self.namespaced.values() for rule in rules]
