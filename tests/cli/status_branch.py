"""A real bare remote whose status branch the tests write with the reconciler's own writer."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.specs.loaded import SpecKey
from reconciler.status.model import (
    REPOSITORY_FILE,
    Condition,
    Phase,
    RepositoryStatus,
    SpecStatus,
    status_path,
)
from reconciler.status.writer import StatusWriter

SHA = "1a2b3c4" + "d" * 33


def spec_status(phase: Phase, message: str = "", **extra: object) -> SpecStatus:
    cond = Condition("Ready", "True", "R", message, "2026-01-01T00:00:00Z")
    return SpecStatus(SHA, phase, message, (cond,), (), extra)


class StatusRemote:
    def __init__(self, root: Path) -> None:
        self.url = str(root / "remote.git")
        pygit2.init_repository(self.url, bare=True)
        cache = pygit2.init_repository(str(root / "writer"), bare=True)
        self.writer = StatusWriter(cache, self.url)
        self.files: dict[str, bytes] = {
            REPOSITORY_FILE: RepositoryStatus(SHA, Phase.READY).to_yaml()
        }

    def write(self, statuses: dict[SpecKey, SpecStatus | None], message: str = "status") -> None:
        for key, status in statuses.items():
            if status is None:
                self.files.pop(status_path(key), None)
            else:
                self.files[status_path(key)] = status.to_yaml()
        self.writer.write(dict(self.files), message)
