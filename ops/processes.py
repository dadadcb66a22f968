"""Background processes with pid files and log files: start once, tell alive from stale, stop gracefully."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from common.pids import pid_alive
from config.errors import LakehouseError

logger = logging.getLogger(__name__)

# Background processes outlive the shell that started them and get their own process group.
DETACHED: dict = (
    {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" else {"start_new_session": True}
)


def terminate(pid: int, *, timeout_s: float = 30.0, marker: str | None = None) -> bool:
    """Terminate `pid` and its children (SIGTERM), kill what is left after `timeout_s`; False when not running."""
    if not pid_alive(pid, marker=marker):
        return False
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return False
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    if alive:
        logger.warning("pid %d ignored SIGTERM for %.0fs, killing it", pid, timeout_s)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
    return True


@dataclass(frozen=True)
class Listen:
    """A port a component serves, and the setting that moves it."""

    port: int
    setting: str


@dataclass(frozen=True, kw_only=True)
class ManagedProcess:
    """A component run in the background: its command, pid file and log file."""

    name: str
    argv: Sequence[str]
    run_dir: Path
    log_dir: Path
    cwd: Path
    ready: Callable[[], bool] | None = None
    env: dict[str, str] | None = None
    listens: Listen | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def marker(self) -> str:
        """What its command line contains: tells our process from an unrelated one that reuses the pid."""
        return " ".join(self.argv[1:3])

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, marker=self.marker) else None

    def start(self, *, timeout_s: float = 60.0) -> bool:
        """Start it unless it runs; wait until it is ready (or, without a readiness check, still alive after 2 s)."""
        if self.pid() is not None:
            return False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **(self.env or {})},
                **DETACHED,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + (timeout_s if self.ready else 2.0)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ProcessExitedError(self, process.returncode)
            if self.ready is not None and self.ready():
                return True
            time.sleep(0.2)
        if self.ready is not None:
            raise ProcessExitedError(self, None)
        return True

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Stop it gracefully (SIGTERM), forcefully after `timeout_s`; False when it was not running."""
        pid = self.pid()
        stopped = pid is not None and terminate(pid, timeout_s=timeout_s, marker=self.marker)
        self.pid_file.unlink(missing_ok=True)
        return stopped


class ProcessExitedError(LakehouseError):
    """A managed process died (or never became ready) during start."""

    def __init__(self, process: ManagedProcess, code: int | None) -> None:
        what = f"exited with code {code}" if code is not None else "did not become ready in time"
        super().__init__(f"{process.name} {what}; see {process.log_file}")
