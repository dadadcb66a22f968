"""The ETL scheduler: silver, gold and maintenance on their intervals, one lake-wide lock, graceful SIGTERM.

A failing stage logs one line and runs again at its next tick. Gold also runs right after a silver run that
wrote rows, so its interval is only a fallback. The lock file (`<LAKE_ROOT>/.etl.lock`, holding the pid) keeps a
second scheduler on the same lake from running stages; a lock left by a dead process is taken over.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import schedule

from common.errors import LakehouseError
from common.processes import pid_alive
from config.settings import Settings

logger = logging.getLogger(__name__)

Stage = Literal["silver", "gold", "maintenance"]
STAGES: tuple[Stage, ...] = ("silver", "gold", "maintenance")
StageFn = Callable[[Settings], object]
FRESH_LOCK_S = 5.0  # an empty lock file this young is being written by its owner, not stale


def run_silver(settings: Settings) -> object:
    from consumer import bronze_to_silver  # imported late: silver is optional until it exists

    return bronze_to_silver.run(settings)


def run_gold(settings: Settings) -> object:
    from consumer import silver_to_gold

    return silver_to_gold.run(settings)


def run_maintenance(settings: Settings) -> object:
    from consumer import maintenance

    return maintenance.run(settings)


DEFAULT_STAGES: dict[Stage, StageFn] = {"silver": run_silver, "gold": run_gold, "maintenance": run_maintenance}


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


def wrote_rows(result: object) -> bool:
    """Whether a silver run's result says it wrote rows (unknown results count as yes)."""
    rows = getattr(result, "silver_rows", None)
    return rows is None or rows > 0


class EtlScheduler:
    """Runs the stages on their intervals until stopped; one stage at a time, in this thread."""

    def __init__(self, settings: Settings, *, only: tuple[Stage, ...] = STAGES,
                 stages: Mapping[Stage, StageFn] | None = None, stop_event: threading.Event | None = None) -> None:
        self.settings = settings
        self.only = only
        self.stages = dict(stages or DEFAULT_STAGES)
        self.stop = stop_event or threading.Event()
        self.failures: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        self.runs: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        self.jobs = schedule.Scheduler()
        intervals = {"silver": settings.silver_interval_s, "gold": settings.gold_interval_s,
                     "maintenance": settings.maintenance_interval_s}
        for stage in only:
            self.jobs.every(intervals[stage]).seconds.do(self.tick, stage)

    def run_stage(self, stage: Stage) -> object | None:
        """Run one stage; a failure is logged on one line and counted, never raised."""
        try:
            result = self.stages[stage](self.settings)
        except LakehouseError as exc:
            self.failures[stage] += 1
            logger.error("stage %s failed: %s; retrying at its next tick", stage, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - the scheduler must outlive any stage bug
            self.failures[stage] += 1
            logger.error("stage %s failed: %s: %s; retrying at its next tick", stage, type(exc).__name__, exc)
            return None
        self.runs[stage] += 1
        return result

    def tick(self, stage: Stage) -> None:
        """A scheduled run; after silver wrote rows, gold follows at once (freshness)."""
        if self.stop.is_set():
            return
        result = self.run_stage(stage)
        follow = stage == "silver" and "gold" in self.only and result is not None and wrote_rows(result)
        if follow and not self.stop.is_set():
            self.run_stage("gold")

    def run_once(self) -> bool:
        """Each stage once, in order; True when all succeeded."""
        failed = sum(self.failures.values())
        for stage in self.only:
            if not self.stop.is_set():
                self.run_stage(stage)
        return sum(self.failures.values()) == failed

    def run_forever(self) -> None:
        """Run silver and gold now, then every stage on its interval, until the stop event is set."""
        logger.info("ETL scheduler (pid %d): %s", os.getpid(),
                    ", ".join(f"{job.job_func.args[0]} every {job.interval}s" for job in self.jobs.jobs))
        for stage in ("silver", "gold"):
            if stage in self.only and not self.stop.is_set():
                self.run_stage(stage)
        while not self.stop.is_set():
            self.jobs.run_pending()
            idle = self.jobs.idle_seconds
            self.stop.wait(max(0.05, min(idle if idle is not None else 1.0, 1.0)))
        logger.info("ETL scheduler stopped")
