"""What a store knows of its own health: the file it opened, and its commits.

SQLite keeps writing into a file that was deleted or replaced while open (the process holds the
old inode): every commit "succeeds" and nothing survives a restart. So the store pins the file's
identity (device, inode) once it exists and refuses writes, and readiness, once the path no
longer leads to it. Commits that fail, or one that has been running too long, make the store
not ready until a commit succeeds again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from autoresolve.service.store.errors import StoreUnavailable


class StoreFileGone(StoreUnavailable):
    """The SQLite file was deleted or replaced while the store had it open."""


class FileIdentity:
    """The SQLite file a store writes to (None: a server database or an in-memory one)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._pinned: tuple[int, int] | None = None

    def check(self) -> None:
        """Raise StoreFileGone unless the path still leads to the file first seen there."""
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._pinned is None:
                return  # not created yet: the first connection creates it
            raise StoreFileGone(
                f"the decision store file {self.path} is gone (deleted while serving): nothing "
                "written now would survive a restart, so nothing is acknowledged. Restore the "
                "file or restart the service (a restart starts from an empty store)."
            ) from None
        seen = (st.st_dev, st.st_ino)
        if self._pinned is None:
            self._pinned = seen
        elif seen != self._pinned:
            raise StoreFileGone(
                f"the decision store file {self.path} was replaced while serving: writes would "
                "go to the old, unlinked file. Restart the service to open the new one."
            )


class CommitHealth:
    """The writer's last outcome and how long its current commit has been running."""

    def __init__(self) -> None:
        self.failing: str | None = None  # the last commit's error, until one succeeds
        self._busy_since: float | None = None

    def started(self) -> None:
        self._busy_since = time.monotonic()

    def finished(self, error: BaseException | None) -> None:
        self._busy_since = None
        self.failing = None if error is None else str(error)

    def stalled_for(self) -> float:
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def problems(self, stall_s: float) -> list[str]:
        out = []
        if self.failing:
            out.append(f"the last commit to the decision store failed: {self.failing}")
        stalled = self.stalled_for()
        if stall_s > 0 and stalled > stall_s:
            out.append(
                f"a commit to the decision store has been running for {stalled:.0f}s "
                f"(more than {stall_s:g}s): the store is stalled"
            )
        return out
