"""The lake-wide ETL lock (`<LAKE_ROOT>/.etl.lock`): only one process runs silver and gold at a time.

The lock is an exclusive OS lock on the file (flock; a byte-range lock on Windows), which the kernel releases when
its holder exits in any way, kill -9 included: a stale holder is not a state the lock can be in, and taking over
from a dead one is the same single atomic step as taking a free lock. The file holds the holder's pid, for people
and for the messages; a file that names a dead process is what a killed holder leaves, and is simply taken.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from config.errors import LakehouseError
from config.settings import Settings

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

logger = logging.getLogger(__name__)

_LOCKED_BYTE = 1 << 20  # Windows locks a byte range; one far beyond the pid keeps the pid readable


class LockHeldError(LakehouseError):
    """Another scheduler holds the ETL lock."""


def lock_path(settings: Settings) -> Path:
    return settings.lake_root / ".etl.lock"


def _try_lock(fd: int) -> bool:
    """Take the OS lock on an open file without waiting; False when another open file holds it."""
    try:
        if sys.platform == "win32":
            os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class EtlLock:
    """An OS-locked pid file; see the module doc."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def acquire(self) -> None:
        """Take the lock or raise LockHeldError naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                holder = self._holder()
                raise LockHeldError(
                    f"another ETL scheduler (pid {holder or '?'}) holds {self.path}; not starting a second"
                )
            if not self._still_at_path(fd):  # the holder released it (removed the file) while we opened it
                os.close(fd)
                continue
            previous = self._holder()
            if previous:
                logger.warning("taking over stale ETL lock %s (pid %s is gone)", self.path, previous)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, str(os.getpid()).encode())
            self.fd = fd
            return
        raise LockHeldError(f"could not take {self.path}: another process keeps re-creating it")

    def _still_at_path(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the file while still holding its lock (so nobody takes a lock on a removed file), then unlock."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except PermissionError:  # Windows cannot remove an open file: it stays, unlocked, and is simply taken
            os.ftruncate(self.fd, 0)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> EtlLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
