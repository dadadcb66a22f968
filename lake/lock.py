"""The lake-wide ETL lock: one pid file (`<LAKE_ROOT>/.etl.lock`) so only one process runs silver and gold at a time.

A lock left by a dead process is taken over.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from common.pids import pid_alive
from config.errors import LakehouseError
from config.settings import Settings

logger = logging.getLogger(__name__)

FRESH_LOCK_S = 5.0  # an empty lock file this young is being written by its owner, not stale


class LockHeldError(LakehouseError):
    """Another scheduler holds the ETL lock."""


def lock_path(settings: Settings) -> Path:
    return settings.lake_root / ".etl.lock"


class EtlLock:
    """A pid lock file: created exclusively; a file whose pid no longer runs is stale and taken over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _age_s(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return 0.0

    def acquire(self) -> None:
        """Take the lock or raise LockHeldError naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and pid_alive(holder, marker="python"):  # a reused pid is rarely python
                    raise LockHeldError(f"another ETL scheduler (pid {holder}) holds {self.path}; not starting a second")
                if holder is None and self._age_s() < FRESH_LOCK_S:
                    raise LockHeldError(f"another ETL scheduler is taking {self.path} right now; not starting a second")
                logger.warning("taking over stale ETL lock %s (pid %s is gone)", self.path, holder)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return
        raise LockHeldError(f"could not take {self.path}: another process keeps re-creating it")

    def release(self) -> None:
        if self.held and self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> EtlLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
