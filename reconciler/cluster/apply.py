"""Server-side apply and deletion, with bounded concurrency and retries.

Objects go in the rank order of ``reconciler.order`` (namespaces, Services, then training, then
serving), one kind at a time and several objects of a kind at once. Transient errors (409 Conflict, 429, 5xx,
dropped connections) are retried with jittered exponential backoff, honouring Retry-After; the
server's answer is recorded in the watch cache so the watch event it causes is a no-op.

Server-side apply creates what is missing and takes over what exists, so before a create the
writer looks (``lookup``): one metadata-only LIST per kind and namespace where a batch creates
several objects, a GET for a lone one. Whose an existing object is, the caller decides.

Worker threads do not inherit the caller's context variables: each task runs in a copy of the
caller's context, so its log lines carry the reconcile's ``commit``, plus the ``spec`` whose object
it writes when the caller names the owners.
"""

from __future__ import annotations

import contextvars
import itertools
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from reconciler.cluster.cache import WatchCache
from reconciler.cluster.client import APPLY_PATCH, KubeClient
from reconciler.cluster.discovery import Discovery
from reconciler.errors import ApiError, NotServed, TransientApiError
from reconciler.inventory import ObjectRef
from reconciler.labels import FIELD_MANAGER
from reconciler.order import apply_order, prune_order
from reconciler.specs.loaded import SpecKey

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

STOPPED = "not written: stopping (shut down, or leadership lost)"

# Creates in one kind and namespace from which one LIST is cheaper than a GET per object.
LIST_FROM = 3
# Metadata is all a lookup reads: a real API server then leaves out specs and status (the
# sandbox answers in full, which is accepted too).
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
_METADATA = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.1  # seconds, doubled per attempt
    max_delay: float = 10.0  # seconds; also caps a server's Retry-After

    def delay(self, attempt: int, error: TransientApiError) -> float:
        if error.retry_after is not None:
            return min(self.max_delay, error.retry_after)
        return min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class WriteResult:
    ref: ObjectRef
    verb: str  # apply | delete
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Lookup:
    """Which objects exist: their metadata (as ``apiVersion``/``kind``/``metadata``), or why the
    question could not be answered."""

    found: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    errors: dict[ObjectRef, str] = field(default_factory=dict)


class Writer:
    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        cache: WatchCache | None = None,
        *,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._cache = cache
        self._concurrency = max(1, concurrency)
        self._retry = retry or RetryPolicy()
        self._stopping = stopping or threading.Event()

    def _with_retries(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return call()
            except TransientApiError as exc:
                attempt += 1
                if attempt >= self._retry.attempts or self._stopping.is_set():
                    raise
                delay = self._retry.delay(attempt, exc)
                log.info("api_retry", reason=exc.reason, status=exc.status, retry_in=delay)
                self._stopping.wait(delay)

    def apply_one(self, obj: dict[str, Any]) -> WriteResult:
        ref = ObjectRef.from_object(obj)
        if self._stopping.is_set():  # a leader that lost its Lease starts no further write
            return WriteResult(ref, "apply", error=STOPPED)
        try:
            resource = self._discovery.resource(ref.api_version, ref.kind)
            path = resource.object_path(ref.name, ref.namespace or None)
            live = self._with_retries(
                lambda: self._client.request(
                    "PATCH",
                    path,
                    query={"fieldManager": FIELD_MANAGER, "force": "true"},
                    body=obj,
                    content_type=APPLY_PATCH,
                )
            )
        except (ApiError, NotServed) as exc:
            if isinstance(exc, ApiError) and exc.status == 404:
                exc = self._discovery.not_found(ref.api_version, ref.kind, exc)
            log.warning("apply_failed", object=str(ref), reason=str(exc))
            return WriteResult(ref, "apply", error=str(exc))
        if self._cache is not None:
            self._cache.record(live)
        log.info("applied", object=str(ref))
        return WriteResult(ref, "apply")

    def delete_one(self, ref: ObjectRef) -> WriteResult:
        if self._stopping.is_set():
            return WriteResult(ref, "delete", error=STOPPED)
        try:
            resource = self._discovery.resource(ref.api_version, ref.kind)
            path = resource.object_path(ref.name, ref.namespace or None)
            self._with_retries(
                lambda: self._client.request(
                    "DELETE", path, body={"propagationPolicy": "Background"}
                )
            )
        except ApiError as exc:
            if exc.status != 404:
                log.warning("delete_failed", object=str(ref), reason=str(exc))
                return WriteResult(ref, "delete", error=str(exc))
        except NotServed as exc:
            return WriteResult(ref, "delete", error=str(exc))
        if self._cache is not None:
            self._cache.forget(ref)
        log.info("pruned", object=str(ref))
        return WriteResult(ref, "delete")

    def lookup(self, refs: Sequence[ObjectRef]) -> Lookup:
        """Find out which of ``refs`` exist, reading metadata only."""
        result = Lookup()
        groups: dict[tuple[str, str, str], list[ObjectRef]] = {}
        for ref in refs:
            groups.setdefault((ref.api_version, ref.kind, ref.namespace), []).append(ref)
        singles: list[ObjectRef] = []
        for group in groups.values():
            if len(group) >= LIST_FROM:
                self._lookup_listing(group, result)
            else:
                singles.extend(group)
        if singles:
            lookup_one = _in_context(self._lookup_one, lambda ref: None)
            with ThreadPoolExecutor(self._concurrency, thread_name_prefix="lookup") as pool:
                for ref, answer in zip(singles, pool.map(lookup_one, singles), strict=True):
                    if isinstance(answer, str):
                        result.errors[ref] = answer
                    elif answer is not None:
                        result.found[ref] = answer
        return result

    def _lookup_one(self, ref: ObjectRef) -> dict[str, Any] | str | None:
        try:
            resource = self._discovery.resource(ref.api_version, ref.kind)
            path = resource.object_path(ref.name, ref.namespace or None)
            found = self._with_retries(lambda: self._client.request("GET", path, accept=_METADATA))
        except ApiError as exc:
            return None if exc.status == 404 else str(exc)
        except NotServed as exc:
            return str(exc)
        return _as_object(ref, found)

    def _lookup_listing(self, refs: list[ObjectRef], result: Lookup) -> None:
        first = refs[0]
        wanted = {ref.name: ref for ref in refs}
        try:
            resource = self._discovery.resource(first.api_version, first.kind)
            path = resource.collection_path(first.namespace or None)
            query: dict[str, Any] = {"limit": 500}
            while True:
                page = self._with_retries(
                    lambda q=dict(query): self._client.request(
                        "GET", path, query=q, accept=_METADATA_LIST
                    )
                )
                for item in page.get("items") or ():
                    ref = wanted.get(str((item.get("metadata") or {}).get("name")))
                    if ref is not None:
                        result.found[ref] = _as_object(ref, item)
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return
                query["continue"] = token
        except (ApiError, NotServed) as exc:
            for ref in refs:
                result.errors[ref] = str(exc)

    def apply(
        self, objects: Sequence[dict[str, Any]], owners: Mapping[ObjectRef, SpecKey] = {}
    ) -> list[WriteResult]:
        """Apply in rank order; ``owners`` names each object's spec for the log context."""
        ordered = apply_order(list(objects))
        batches = itertools.groupby(ordered, key=lambda o: (o.get("apiVersion"), o.get("kind")))
        call = _in_context(self.apply_one, lambda obj: owners.get(ObjectRef.from_object(obj)))
        return self._run_batches([list(batch) for _, batch in batches], call)

    def delete(
        self, refs: Sequence[ObjectRef], owners: Mapping[ObjectRef, SpecKey] = {}
    ) -> list[WriteResult]:
        """Delete in reverse rank order; ``owners`` as for ``apply``."""
        ordered = prune_order(list(refs))
        batches = itertools.groupby(ordered, key=lambda r: (r.api_version, r.kind))
        call = _in_context(self.delete_one, owners.get)
        return self._run_batches([list(batch) for _, batch in batches], call)

    def _run_batches(self, batches: list[list[Any]], call: Callable[[Any], WriteResult]):
        results: list[WriteResult] = []
        if not batches:
            return results
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="apply") as pool:
            for batch in batches:
                if self._stopping.is_set():
                    break
                if len(batch) == 1:
                    results.append(call(batch[0]))
                else:
                    results.extend(pool.map(call, batch))
        return results

    def ensure_namespace(self, name: str) -> str | None:
        """Create a missing namespace (never pruned); the error text when that fails."""
        try:
            self._with_retries(lambda: self._client.request("GET", f"/api/v1/namespaces/{name}"))
            return None
        except ApiError as exc:
            if exc.status != 404:
                return str(exc)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self._with_retries(
                lambda: self._client.request("POST", "/api/v1/namespaces", body=body)
            )
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                return str(exc)
        log.info("namespace_created", namespace=name)
        return None


def _in_context(call: Callable[[T], R], spec_of: Callable[[T], SpecKey | None]) -> Callable[[T], R]:
    """``call`` run in a copy of the caller's context (taken now), with ``spec`` bound.

    One copy per task: a context cannot be entered by two threads at once.
    """
    context = contextvars.copy_context()

    def task(item: T) -> R:
        def bound() -> R:
            spec = spec_of(item)
            if spec is not None:
                structlog.contextvars.bind_contextvars(spec=str(spec))
            return call(item)

        return context.copy().run(bound)

    return task


def _as_object(ref: ObjectRef, found: dict[str, Any]) -> dict[str, Any]:
    """A looked-up object as its own kind (a metadata-only answer calls itself
    PartialObjectMetadata), holding nothing but its metadata."""
    return {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "metadata": found.get("metadata") or {},
    }
