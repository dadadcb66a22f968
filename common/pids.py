"""Is a process alive? Tells a running pid from a stale one (and from an unrelated process that reused it)."""

from __future__ import annotations

import psutil


def pid_alive(pid: int, *, marker: str | None = None) -> bool:
    """True when `pid` runs (not a zombie) and, given a marker, its command line contains it."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            process.wait(timeout=0)
            return False
        return marker is None or marker in " ".join(process.cmdline())
    except (psutil.Error, psutil.TimeoutExpired):
        return False
