"""One branch of one Git remote, cloned bare into a cache directory and fetched with pygit2.

Nothing here checks files out: later stages read commit trees straight from ``GitSource.repo``.
Every message that leaves this module goes through ``scrub`` so a token in a URL or a
credential never reaches an exception or a log line.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pygit2
import structlog
from pygit2.enums import FetchPrune, FileMode, RepositoryOpenFlag

from reconciler.errors import SourceError
from reconciler.source.credentials import DEFAULT_TIMEOUT, Credentials, GitCallbacks

log = structlog.get_logger(__name__)

REMOTE_NAME = "origin"
# The user information runs to the *last* "@" before the path: a password may hold "@" and ":"
# as typed; "/", "?" and "#" end the authority, so in a password they must be percent-encoded.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")
# scp-like remotes (`git@host:org/repo.git`): a colon before the first slash, no scheme.
_SCP_LIKE = re.compile(r"^[^/:]+:(?!//)")
# Schemes whose user name is the account to log in as, not a secret; it stays in the URL.
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove ``user:password@`` from URLs and every known secret value from ``text``."""
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The password part of a URL, as written and percent-decoded, for scrubbing."""
    if "://" not in url:
        return ()
    password = urlsplit(url).password
    if not password:
        return ()
    return tuple({password, unquote(password)})


def split_credentials(url: str, credentials: Credentials | None) -> tuple[str, Credentials | None]:
    """``url`` without its user information, and the credentials to reach it with.

    libgit2 writes the remote URL into the cache's config and FETCH_HEAD, so a token in it
    would be stored in clear. It is taken out here instead and handed to libgit2 through the
    credential callback: a password in the URL becomes a token credential (credentials given
    explicitly win). An ssh URL keeps its user name, the account to log in as.
    """
    if "://" not in url:
        return url, credentials
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, credentials
    user, _, password = userinfo.partition(":")
    if password and credentials is None:
        credentials = Credentials.https_token(
            unquote(password), username=unquote(user) or "x-access-token"
        )
    keep = user if parts.scheme.lower() in _SSH_SCHEMES and user else ""
    netloc = f"{keep}@{host}" if keep else host
    return urlunsplit(parts._replace(netloc=netloc)), credentials


def local_repository_path(url: str) -> Path | None:
    """The directory of a repository on local disk, or None for a network remote.

    Only these get a file-system watcher; network remotes are polled or told by a webhook.
    """
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path)).resolve()
    if "://" in url or _SCP_LIKE.match(url):
        return None
    return Path(url).expanduser().resolve()


def normalise_url(url: str) -> str:
    """Local paths made absolute (a cache stays valid whatever the working directory)."""
    local = local_repository_path(url)
    return str(local) if local is not None and "://" not in url else url


def fetch_refspec(
    remote: pygit2.Remote,
    refspec: str,
    url: str,
    credentials: Credentials | None,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Fetch one refspec (pruning its destination); failures become a scrubbed SourceError."""
    display = scrub(url)
    local = local_repository_path(url)
    if local is not None and not local.exists():
        raise SourceError(f"repository {display} does not exist")
    secrets = url_secrets(url) + (credentials.secrets() if credentials else ())
    callbacks = GitCallbacks(credentials, timeout)
    try:
        # Prune so a branch deleted on the remote is reported, not served stale from the cache.
        remote.fetch([refspec], callbacks=callbacks, prune=FetchPrune.PRUNE)
    except (pygit2.GitError, OSError, SourceError) as exc:
        raise SourceError(
            f"cannot fetch {what} from {display}: {scrub(str(exc), secrets)}"
        ) from None


def tree_entries(repo: pygit2.Repository, commit: pygit2.Oid | None) -> dict[str, pygit2.Oid]:
    """Every file of a commit, path (forward slashes) -> blob id; empty for no commit."""
    entries: dict[str, pygit2.Oid] = {}
    if commit is not None:
        _walk(repo, repo[commit].peel(pygit2.Tree), "", entries)
    return entries


def _walk(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, out: dict[str, pygit2.Oid]
) -> None:
    for entry in tree:
        path = prefix + entry.name
        if entry.filemode == FileMode.TREE:
            _walk(repo, repo[entry.id], path + "/", out)  # type: ignore[arg-type]
        else:
            out[path] = entry.id


class GitSource:
    """Fetches ``branch`` of ``url`` into a bare cache at ``cache_dir``; never checks out.

    ``url`` may carry a token (``https://user:token@host/...``): it is kept in memory as a
    credential and never written to the cache (see ``split_credentials``). ``timeout`` bounds
    every fetch (``GitCallbacks``).
    """

    def __init__(
        self,
        url: str,
        branch: str,
        cache_dir: Path,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url, self.credentials = split_credentials(normalise_url(url), credentials)
        self.branch = branch
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.display_url = scrub(self.url)
        self.tracking_ref = f"refs/remotes/{REMOTE_NAME}/{branch}"
        self._refspec = f"+refs/heads/{branch}:{self.tracking_ref}"
        self._repo: pygit2.Repository | None = None
        self._remote: pygit2.Remote | None = None
        self._tip: pygit2.Oid | None = None

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            self._repo = self._open_cache()
            self._remote = self._repo.remotes[REMOTE_NAME]
        return self._repo

    def fetch(self) -> pygit2.Oid:
        """Fetch the branch and return the remote tip; SourceError when that is impossible."""
        repo = self.repo
        assert self._remote is not None
        started = time.perf_counter()
        fetch_refspec(
            self._remote,
            self._refspec,
            self.url,
            self.credentials,
            f"branch {self.branch!r}",
            self.timeout,
        )
        ref = repo.references.get(self.tracking_ref)
        if ref is None:
            raise SourceError(f"branch {self.branch!r} does not exist in {self.display_url}")
        tip = ref.target
        assert isinstance(tip, pygit2.Oid)
        if tip != self._tip:
            log.info(
                "git.fetched",
                url=self.display_url,
                branch=self.branch,
                tip=str(tip),
                previous=str(self._tip) if self._tip else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            self._tip = tip
        return tip

    def changed_paths(self, old: pygit2.Oid | None, new: pygit2.Oid) -> set[str]:
        """Paths (forward slashes) added, changed or removed between two commits."""
        new_tree = self.repo[new].peel(pygit2.Tree)
        if old is None:
            diff = new_tree.diff_to_tree()
        else:
            diff = self.repo.diff(self.repo[old].peel(pygit2.Tree), new_tree)
        paths: set[str] = set()
        for delta in diff.deltas:
            paths.add(delta.old_file.path)
            paths.add(delta.new_file.path)
        return paths

    def _open_cache(self) -> pygit2.Repository:
        cache = self.cache_dir
        if cache.exists() and any(cache.iterdir()):
            existing = _open_bare(cache)
            if existing is None:
                # Never delete a directory we did not create: it might be someone's work.
                raise SourceError(f"cache directory {cache} exists and is not a Git cache")
            remote = _remote_or_none(existing)
            if remote is not None and remote.url == self.url:
                return existing
            log.info("git.cache_replaced", cache_dir=str(cache), url=self.display_url)
            shutil.rmtree(cache)
        cache.mkdir(parents=True, exist_ok=True)
        repo = pygit2.init_repository(str(cache), bare=True)
        repo.remotes.create(REMOTE_NAME, self.url)
        log.info("git.cache_created", cache_dir=str(cache), url=self.display_url)
        return repo


def _open_bare(path: Path) -> pygit2.Repository | None:
    # NO_SEARCH: a cache directory inside some other repository must not open that repository.
    try:
        repo = pygit2.Repository(str(path), flags=RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        return None
    if not repo.is_bare or Path(repo.path).resolve() != path.resolve():
        return None
    return repo


def _remote_or_none(repo: pygit2.Repository) -> pygit2.Remote | None:
    try:
        return repo.remotes[REMOTE_NAME]
    except KeyError:
        return None
