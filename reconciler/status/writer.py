"""Commit the status files to their own branch and push, only when something changed.

The caller hands over the complete desired content of the branch. What is committed is the
*delta* against the tip last seen: when another writer pushed first, the push is rejected, the new
tip is fetched and the same delta is applied on top of it (their files stay), then pushed again.
Nothing is ever force-pushed. Trees are built in memory with TreeBuilders: no checkout, no index
file, only the directories on a changed path are rewritten; many new blobs at once (a first
write of thousands of specs) go into one pack file rather than thousands of loose objects.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

import pygit2
import structlog
from pygit2.enums import FileMode

from reconciler.errors import PushRejected, SourceError
from reconciler.source.credentials import DEFAULT_TIMEOUT, Credentials, GitCallbacks
from reconciler.source.git import (
    fetch_refspec,
    normalise_url,
    scrub,
    split_credentials,
    tree_entries,
    url_secrets,
)

log = structlog.get_logger(__name__)

DEFAULT_AUTHOR = ("reconciler", "reconciler@localhost")
# Outcome notes on the spec-branch commits, pushed beside the status branch.
NOTES_REF = "refs/notes/reconciler"
# Each retry is one fetch and one push; more than a handful means a writer loop elsewhere.
MAX_PUSH_ATTEMPTS = 5
# How libgit2 says the remote moved: the new tip is no descendant of it, or holds commits we lack.
_REMOTE_MOVED = re.compile(r"non-fast-?forward|not present locally", re.IGNORECASE)

# One loose object is one file: fine for a few, seconds for thousands on a slow disk. Above this
# many new blobs they are written as a single pack instead.
PACK_THRESHOLD = 64
_PACK_BLOB = 3  # object type number of a blob in the pack format

# path -> new content, or None to remove the file
Delta = dict[str, bytes | None]


class StatusWriter:
    """Writes the status branch of ``remote_url`` through the object database of ``repo``.

    ``author`` gives the name and email of the commits; their time is always the time of writing.
    """

    def __init__(
        self,
        repo: pygit2.Repository,
        remote_url: str,
        branch: str = "status",
        credentials: Credentials | None = None,
        author: pygit2.Signature | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.repo = repo
        # A token in the URL is kept out of FETCH_HEAD and handed to libgit2 as a credential.
        self.url, self.credentials = split_credentials(normalise_url(remote_url), credentials)
        self.branch = branch
        self.timeout = timeout
        self.display_url = scrub(self.url)
        self._identity = (author.name, author.email) if author else DEFAULT_AUTHOR
        # Our own ref namespace: a spec-branch fetch into the same repository never prunes it.
        self.tracking_ref = f"refs/reconciler/status/{branch}"
        self._remote = repo.remotes.create_anonymous(self.url)
        self._lock = threading.Lock()
        self._tip: pygit2.Oid | None = None
        self._fetched = False
        # The files as this writer last wrote (or first read) them. Deltas are taken against
        # these, not against the remote tip, so a file another writer added is never ours to
        # delete, even after our delta was replayed on top of their commit.
        self._written: dict[str, pygit2.Oid] | None = None
        self._hashed: dict[str, tuple[bytes, pygit2.Oid]] = {}  # path -> (content, blob id)
        self.notes_tracking_ref = "refs/reconciler/notes/reconciler"
        self._notes_fetched = False

    @property
    def tip(self) -> pygit2.Oid | None:
        """The status branch commit last seen on the remote (None: the branch does not exist)."""
        return self._tip

    def read(self) -> dict[str, bytes]:
        """Fetch the branch and return every file on it (empty when the branch does not exist)."""
        with self._lock:
            self._fetch()
            self._written = tree_entries(self.repo, self._tip)
            return {path: self.repo[oid].data for path, oid in self._written.items()}

    def write(self, files: Mapping[str, bytes], message: str) -> pygit2.Oid | None:
        """Make the branch hold exactly ``files``; the new commit, or None when nothing changed."""
        with self._lock:
            written = self._hash(files)
            if not self._fetched:
                self._fetch()
            if self._written is None:
                self._written = tree_entries(self.repo, self._tip)
            delta = self._delta(files, written)
            if not delta:
                return None
            for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
                commit = self._commit(delta, written, message)
                if commit is None:
                    # Another writer already pushed exactly this content.
                    self._written = written
                    return None
                try:
                    self._push(commit, f"refs/heads/{self.branch}")
                except PushRejected as exc:
                    log.info(
                        "status.push_rejected", branch=self.branch, attempt=attempt, reason=str(exc)
                    )
                    self._fetch()
                    continue
                self._advance(commit)
                self._written = written
                log.info(
                    "status.pushed",
                    branch=self.branch,
                    commit=str(commit),
                    changed=len(delta),
                    attempt=attempt,
                )
                return commit
            raise PushRejected(
                f"status branch {self.branch!r} of {self.display_url} kept moving: "
                f"gave up after {MAX_PUSH_ATTEMPTS} attempts"
            )

    def _hash(self, files: Mapping[str, bytes]) -> dict[str, pygit2.Oid]:
        """Blob ids of ``files``, hashed without writing (unchanged files never touch the object
        database), and only for content that changed since the last write: thousands of status
        files, of which a commit changes a few."""
        last = self._hashed
        hashed: dict[str, tuple[bytes, pygit2.Oid]] = {}
        for path, content in files.items():
            seen = last.get(path)
            if seen is None or seen[0] != content:
                _check_path(path)
                seen = (content, pygit2.hash(content))
            hashed[path] = seen
        self._hashed = hashed
        return {path: oid for path, (_, oid) in hashed.items()}

    def _fetch(self) -> None:
        fetch_refspec(
            self._remote,
            f"+refs/heads/{self.branch}:{self.tracking_ref}",
            self.url,
            self.credentials,
            f"status branch {self.branch!r}",
            self.timeout,
        )
        ref = self.repo.references.get(self.tracking_ref)
        self._tip = ref.target if ref is not None else None  # type: ignore[assignment]
        self._fetched = True

    def _advance(self, commit: pygit2.Oid) -> None:
        # The ref also keeps our commit reachable in the local object database.
        self.repo.references.create(self.tracking_ref, commit, force=True)
        self._tip = commit

    def _delta(self, files: Mapping[str, bytes], ids: Mapping[str, pygit2.Oid]) -> Delta:
        current = self._written or {}
        delta: Delta = {
            path: content for path, content in files.items() if current.get(path) != ids[path]
        }
        delta.update((path, None) for path in current if path not in files)
        return delta

    def _commit(
        self, delta: Delta, hashed: Mapping[str, pygit2.Oid], message: str
    ) -> pygit2.Oid | None:
        ids = {path: hashed[path] if c is not None else None for path, c in delta.items()}
        _store_blobs(self.repo, {ids[p]: c for p, c in delta.items() if c is not None})
        base = self.repo[self._tip].peel(pygit2.Tree) if self._tip is not None else None
        tree = _build(self.repo, base, ids) or self.repo.TreeBuilder().write()
        if base is not None and tree == base.id:
            return None
        signature = pygit2.Signature(*self._identity)
        parents = [self._tip] if self._tip is not None else []  # no tip: an orphan branch
        return self.repo.create_commit(None, signature, signature, message, tree, parents)

    def read_note(self, commit: str) -> str | None:
        """The note under ``NOTES_REF`` on ``commit`` as the remote last held it (fetched once)."""
        with self._lock:
            if not self._notes_fetched:
                self._fetch_notes()
            if self.repo.references.get(self.notes_tracking_ref) is None:
                return None
            try:
                return self.repo.lookup_note(commit, self.notes_tracking_ref).message
            except KeyError:
                return None

    def write_notes(self, notes: Mapping[str, str]) -> pygit2.Oid | None:
        """Make the remote's ``NOTES_REF`` hold ``notes`` (annotated commit -> text) on top of
        whatever notes others pushed there; the new notes commit, or None when nothing changed.

        A rejected push is retried on the new remote tip, like the branch: never forced.
        """
        with self._lock:
            if not self._notes_fetched:
                self._fetch_notes()
            for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
                tip = self._add_notes(notes)
                if tip is None:
                    return None
                try:
                    self._push(tip, NOTES_REF)
                except PushRejected as exc:
                    log.info("status.notes_rejected", attempt=attempt, reason=str(exc))
                    self._fetch_notes()  # drops our unpushed notes commit: redone on their tip
                    continue
                log.info("status.notes_pushed", commit=str(tip), notes=len(notes))
                return tip
            raise PushRejected(
                f"{NOTES_REF} of {self.display_url} kept moving: "
                f"gave up after {MAX_PUSH_ATTEMPTS} attempts"
            )

    def _fetch_notes(self) -> None:
        fetch_refspec(
            self._remote,
            f"+{NOTES_REF}:{self.notes_tracking_ref}",
            self.url,
            self.credentials,
            NOTES_REF,
            self.timeout,
        )
        self._notes_fetched = True

    def _add_notes(self, notes: Mapping[str, str]) -> pygit2.Oid | None:
        """Commit the notes that differ onto the tracking ref; its new tip, or None."""
        ref = self.notes_tracking_ref
        signature = pygit2.Signature(*self._identity)
        added = False
        for annotated, message in sorted(notes.items()):
            try:
                if self.repo.lookup_note(annotated, ref).message == message:
                    continue
            except KeyError:
                pass
            self.repo.create_note(message, signature, signature, annotated, ref, True)
            added = True
        return self.repo.references[ref].target if added else None  # type: ignore[return-value]

    def _push(self, commit: pygit2.Oid, ref: str) -> None:
        callbacks = GitCallbacks(self.credentials, self.timeout)
        secrets = url_secrets(self.url) + (self.credentials.secrets() if self.credentials else ())
        started = time.perf_counter()
        try:
            # No leading "+": the remote refuses anything but a fast-forward.
            self._remote.push([f"{commit}:{ref}"], callbacks=callbacks)
        except (pygit2.GitError, OSError, SourceError) as exc:
            text = scrub(str(exc), secrets)
            if _REMOTE_MOVED.search(text):
                raise PushRejected(text) from None
            what = ref if ref == NOTES_REF else f"status branch {self.branch!r}"
            raise SourceError(f"cannot push {what} to {self.display_url}: {text}") from None
        if callbacks.rejected:
            # Network transports report a refused ref here instead of raising.
            reasons = "; ".join(f"{ref}: {msg}" for ref, msg in sorted(callbacks.rejected.items()))
            raise PushRejected(scrub(reasons, secrets))
        log.debug(
            "status.push",
            ref=ref,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def _check_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a relative status file path: {path!r}")
    if parts[0] == ".git":
        raise ValueError(f"not a relative status file path: {path!r}")


def _build(
    repo: pygit2.Repository, base: pygit2.Tree | None, delta: Mapping[str, pygit2.Oid | None]
) -> pygit2.Oid | None:
    """``base`` with ``delta`` (path -> blob id, None to remove) applied, rewriting only the
    directories on changed paths.

    Returns None when the result is empty: Git stores no empty directories.
    """
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    below: dict[str, dict[str, pygit2.Oid | None]] = {}
    for path, blob in delta.items():
        head, slash, rest = path.partition("/")
        if slash:
            below.setdefault(head, {})[rest] = blob
        elif blob is not None:
            builder.insert(head, blob, FileMode.BLOB)
        elif builder.get(head) is not None:
            builder.remove(head)
    for name, sub in below.items():
        entry = builder.get(name)
        subtree = repo[entry.id] if entry is not None and entry.filemode == FileMode.TREE else None
        oid = _build(repo, subtree, sub)  # type: ignore[arg-type]
        if oid is not None:
            builder.insert(name, oid, FileMode.TREE)
        elif entry is not None:
            builder.remove(name)
    if len(builder) == 0:
        return None
    return builder.write()


def _store_blobs(repo: pygit2.Repository, blobs: Mapping[pygit2.Oid, bytes]) -> None:
    """Make every blob exist in ``repo``, as one pack when there are many new ones."""
    # Writing an existing object would still touch ("freshen") its file: skip those.
    new = {oid: content for oid, content in blobs.items() if oid not in repo.odb}
    if len(new) < PACK_THRESHOLD:
        for content in new.values():
            repo.create_blob(content)
        return
    _write_pack(Path(repo.path) / "objects" / "pack", new)


def _write_pack(directory: Path, blobs: Mapping[pygit2.Oid, bytes]) -> None:
    """Write ``blobs`` as a version 2 pack and its index (what ``git index-pack`` would make)."""
    pack = bytearray(b"PACK" + struct.pack(">II", 2, len(blobs)))
    entries: list[tuple[bytes, int, int]] = []  # (object id, crc32, offset)
    for oid, content in blobs.items():
        header = _pack_object_header(_PACK_BLOB, len(content))
        packed = header + zlib.compress(content, 1)
        entries.append((oid.raw, zlib.crc32(packed), len(pack)))
        pack += packed
    if len(pack) >= 2**31:
        raise ValueError("status blobs too large for one pack")  # needs 64-bit offsets
    pack_sum = hashlib.sha1(pack).digest()
    pack += pack_sum
    entries.sort()
    fanout = [0] * 256
    for name, _, _ in entries:
        fanout[name[0]] += 1
    index = bytearray(b"\377tOc" + struct.pack(">I", 2))
    total = 0
    for count in fanout:
        total += count
        index += struct.pack(">I", total)
    index += b"".join(name for name, _, _ in entries)
    index += b"".join(struct.pack(">I", crc) for _, crc, _ in entries)
    index += b"".join(struct.pack(">I", offset) for _, _, offset in entries)
    index += pack_sum
    index += hashlib.sha1(index).digest()
    stem = directory / f"pack-{pack_sum.hex()}"
    # The index is what makes a pack visible, so it is renamed into place last.
    _write_atomically(stem.with_suffix(".pack"), bytes(pack))
    _write_atomically(stem.with_suffix(".idx"), bytes(index))


def _pack_object_header(kind: int, size: int) -> bytes:
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)
