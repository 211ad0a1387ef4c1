"""The push webhook: GitHub, GitLab or a generic signed POST asks for an immediate fetch.

A webhook only *triggers* a fetch; what gets applied is still whatever the fetch finds at the
tip of the tracked branch. That makes a forged or replayed request worth at most one extra fetch,
so the receiver can stay small: authenticate, check the request names the tracked repository and
branch, call ``on_push``. The secret, the signature and the payload never reach a log line, an
exception or a response.

    GitHub    X-GitHub-Event: push | ping       X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>
    GitLab    X-Gitlab-Event: Push Hook         X-Gitlab-Token: <secret>
    generic   X-Signature-Timestamp: <unix s>   X-Signature-256: sha256=<HMAC of "<ts>.<body>">
              {"ref": "refs/heads/<branch>", "repository": url}

Replays are limited twice over. A delivery seen recently (GitHub's delivery id, GitLab's
idempotency key or event UUID, the generic form's signed timestamp with a digest of the body) is
answered ``200 duplicate delivery`` and triggers nothing; a generic request whose timestamp is
more than ``TIMESTAMP_WINDOW`` away from now is refused. And triggers are throttled: at most one
``on_push`` per ``min_interval``, a burst ending in one more call after the interval, so N hooks
never make N fetches while the last push is still always fetched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from reconciler.errors import ConfigError
from reconciler.httpserver import MAX_BODY, Response

log = structlog.get_logger(__name__)

HOOK_PATH = "/hooks/git"
DEDUPE_ENTRIES = 1024  # delivery ids remembered; a few minutes of pushes on a busy repository
# Providers resend a delivery (same id) when asked to; after this long that is a person asking
# for a fetch on purpose, so it is honoured rather than dropped as a duplicate.
DEDUPE_SECONDS = 600.0
# How far a generic request's timestamp may be from the receiver's clock, either way. Its digest
# is remembered for DEDUPE_SECONDS, longer than the window, so no replay slips between the two.
TIMESTAMP_WINDOW = 300.0
MIN_TRIGGER_INTERVAL = 1.0  # seconds between two fetches a burst of hooks may cause

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$")


class _Rejected(Exception):
    """Ends a request early with ``status``; ``reason`` is safe to log and to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Push:
    """What a request says happened: a push of ``ref`` to one of ``repositories``."""

    event: str  # "push", "ping" or the provider's name for anything else
    delivery: str | None
    ref: str | None
    repositories: tuple[str, ...]


def load_secret(path: Path) -> bytes:
    """The shared secret from a file (a mounted Secret); one trailing newline is not part of it."""
    try:
        secret = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read webhook secret file {path}: {exc.strerror}") from None
    secret = secret.removesuffix(b"\n").removesuffix(b"\r")
    if not secret:
        raise ConfigError(f"webhook secret file {path} is empty")
    return secret


def repository_key(url: str) -> str:
    """``host/path`` of a repository URL, equal for its https, ssh and scp-like forms.

    Credentials, ports, a trailing slash and ``.git`` are dropped and the host is lower-cased,
    so ``https://GitHub.com/org/repo`` and ``git@github.com:org/repo.git`` compare equal.
    """
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path
    elif match := _SCP_LIKE.match(url):
        host, path = match["host"].lower(), match["path"]
    else:
        host, path = "", url  # a local path: webhooks do not apply, but compare it sanely
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host}/{path}" if host else path


class WebhookReceiver:
    """Answers POST ``HOOK_PATH``; calls ``on_push`` for a push to ``branch`` of ``repo_url``."""

    def __init__(
        self,
        secret: bytes,
        repo_url: str,
        branch: str,
        on_push: Callable[[], None],
        clock: Callable[[], float] = time.time,
        max_body: int = MAX_BODY,
        min_interval: float = MIN_TRIGGER_INTERVAL,
    ) -> None:
        if not secret:
            raise ConfigError("the webhook secret is empty")
        self._secret = secret
        self._repository = repository_key(repo_url)
        self._ref = f"refs/heads/{branch}"
        self._on_push = Throttle(on_push, min_interval) if min_interval > 0 else on_push
        self._clock = clock  # wall-clock seconds: generic timestamps are Unix times
        self._max_body = max_body
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()  # the HTTP server answers each request on its own thread

    def __repr__(self) -> str:
        return f"WebhookReceiver(repository={self._repository!r}, ref={self._ref!r})"

    def handle(self, headers: dict[str, str], body: bytes) -> Response:
        """One request: ``headers`` with lower-case names, ``body`` as received."""
        provider = _provider(headers)
        try:
            if len(body) > self._max_body:
                raise _Rejected(413, "payload too large")
            self._authenticate(provider, headers, body)
            push = _parse(provider, headers, body)
            if provider == "generic":
                push = self._timestamped(headers, body, push)
        except _Rejected as rejected:
            log.warning("webhook.rejected", provider=provider, reason=rejected.reason)
            return _text(rejected.status, rejected.reason)
        if push.delivery is not None and self._duplicate(provider, push.delivery):
            log.info("webhook.duplicate", provider=provider, delivery=push.delivery)
            return _text(200, "duplicate delivery")
        if push.event == "ping":
            return _text(200, "pong")
        if push.event != "push":
            log.info("webhook.ignored", provider=provider, delivery=push.delivery, kind=push.event)
            return _text(202, "ignored: not a push event")
        if push.ref != self._ref or not self._tracks(push.repositories):
            log.info("webhook.ignored", provider=provider, delivery=push.delivery, ref=push.ref)
            return _text(202, "ignored: not the tracked branch")
        log.info("webhook.push", provider=provider, delivery=push.delivery, ref=push.ref)
        self._on_push()
        return _text(202, "fetch triggered")

    def _authenticate(self, provider: str, headers: dict[str, str], body: bytes) -> None:
        if provider == "gitlab":
            # GitLab sends the secret itself, not a signature: compare in constant time.
            token = headers.get("x-gitlab-token")
            if token is None:
                raise _Rejected(401, "missing token")
            if not hmac.compare_digest(_wire_bytes(token), self._secret):
                raise _Rejected(401, "bad token")
            return
        header = "x-hub-signature-256" if provider == "github" else "x-signature-256"
        signature = headers.get(header)
        if signature is None:
            raise _Rejected(401, "missing signature")
        signed = body
        if provider == "generic":
            # The timestamp is signed with the body, or a replay could simply carry a fresh one.
            timestamp = headers.get("x-signature-timestamp")
            if timestamp is None:
                raise _Rejected(401, "missing timestamp")
            signed = _wire_bytes(timestamp.strip()) + b"." + body
        expected = b"sha256=" + hmac.new(self._secret, signed, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(_wire_bytes(signature.strip().lower()), expected):
            raise _Rejected(401, "bad signature")

    def _timestamped(self, headers: dict[str, str], body: bytes, push: Push) -> Push:
        """The generic push, its delivery id made of the signed timestamp and the body digest."""
        stamp = headers["x-signature-timestamp"].strip()
        try:
            sent = int(stamp)
        except ValueError:
            raise _Rejected(400, "malformed timestamp: not Unix seconds") from None
        if abs(self._clock() - sent) > TIMESTAMP_WINDOW:
            raise _Rejected(401, "stale timestamp")
        delivery = f"{sent}.{hashlib.sha256(body).hexdigest()}"
        return Push(push.event, delivery, push.ref, push.repositories)

    def _duplicate(self, provider: str, delivery: str) -> bool:
        """True when this delivery was handled recently; otherwise remember it."""
        key = (provider, delivery)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen < DEDUPE_SECONDS:
                return True
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > DEDUPE_ENTRIES:
                self._seen.popitem(last=False)
        return False

    def _tracks(self, repositories: Iterable[str]) -> bool:
        return any(repository_key(url) == self._repository for url in repositories)


class Throttle:
    """Calls ``action`` at most once per ``interval`` seconds, never dropping the last call.

    The first call runs at once. A call within ``interval`` of the previous run is deferred to
    the end of the interval, and every call deferred meanwhile shares that one run: a burst costs
    two runs, the second after the burst's last push.
    """

    def __init__(self, action: Callable[[], None], interval: float) -> None:
        self._action = action
        self._interval = interval
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._pending: threading.Timer | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._pending is not None:
                return
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                self._pending = threading.Timer(wait, self._deferred)
                self._pending.daemon = True
                self._pending.start()
                return
            self._last = time.monotonic()
        self._action()

    def _deferred(self) -> None:
        with self._lock:
            self._pending = None
            self._last = time.monotonic()
        self._action()


def _provider(headers: dict[str, str]) -> str:
    if "x-github-event" in headers:
        return "github"
    if "x-gitlab-event" in headers:
        return "gitlab"
    return "generic"


def _wire_bytes(value: str) -> bytes:
    # WSGI servers decode header bytes as latin-1, so this recovers what was sent; a value it
    # cannot encode was never on the wire, and the empty result matches no (non-empty) secret.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return b""


def _parse(provider: str, headers: dict[str, str], body: bytes) -> Push:
    """The push an authenticated body describes; 400 when it is not the JSON it should be."""
    payload = _json_object(provider, headers, body)
    if provider == "github":
        event, delivery = headers["x-github-event"].strip(), headers.get("x-github-delivery")
        repository, keys = "repository", ("clone_url", "ssh_url", "html_url")
    elif provider == "gitlab":
        # Idempotency-Key stays the same when GitLab retries a delivery; the UUID may not.
        delivery = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
        event = headers["x-gitlab-event"].strip()
        event = "push" if event == "Push Hook" else event
        repository, keys = "project", ("git_http_url", "git_ssh_url", "web_url")
    else:
        return Push("push", None, _required(payload, "ref"), (_required(payload, "repository"),))
    if event != "push":
        # Pings and other events need not name a repository (an organisation hook's ping does not).
        return Push(event, delivery, None, ())
    urls = _mapping(payload, repository)
    found = tuple(url for key in keys if isinstance(url := urls.get(key), str) and url)
    return Push(event, delivery, _required(payload, "ref"), found)


def _json_object(provider: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    # GitHub's default content type wraps the JSON in the form field "payload". Others always
    # send JSON, whatever a client such as curl -d labels it.
    form = provider == "github" and content_type == "application/x-www-form-urlencoded"
    try:
        text = body.decode("utf-8")
        payload = json.loads(parse_qs(text).get("payload", [""])[0] if form else text)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurd nesting
        raise _Rejected(400, "malformed JSON") from None
    if not isinstance(payload, dict):
        raise _Rejected(400, "malformed payload: not a JSON object")
    return payload


def _mapping(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise _Rejected(400, f"malformed payload: {key} is not an object")
    return value


def _required(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise _Rejected(400, f"malformed payload: {key} is not a string")
    return value


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())
