"""The ETL scheduler: silver as soon as bronze has a new commit (and at least every SILVER_INTERVAL_S), gold right
after a silver run that wrote rows (and at least every GOLD_INTERVAL_S), maintenance every MAINTENANCE_INTERVAL_S;
or each stage once.

    python -m consumer.scheduler [--once] [--stage silver|gold|maintenance|all]

A failing stage logs one line and runs again at its next tick. Only the holder of the ETL lease (lake/lease.py,
kept in the lake) runs stages: a second scheduler on any host waits as a standby and takes over when the holder's
lease lapses; a holder that loses its lease finishes the running stage and becomes a standby; `--once` while
another process holds the lease says so and exits 0. SIGTERM (or Ctrl-C) finishes the running stage, releases
the lease and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Literal

import schedule
from deltalake.exceptions import DeltaError

from common.cli import run as run_cli
from common.cli import setup_logging, stop_on_signals
from config.errors import LakehouseError
from config.location import Location
from config.settings import Settings
from lake import delta_io, tables
from lake.delta_io import one_line
from lake.lease import Lease, LeaseHeldError, LeaseKeeper

logger = logging.getLogger(__name__)

Stage = Literal["silver", "gold", "maintenance"]
STAGES: tuple[Stage, ...] = ("silver", "gold", "maintenance")
StageFn = Callable[[Settings], object]
POLL_S = 0.5  # how often the bronze log is checked for a new commit (one file stat when nothing changed)


def run_silver(settings: Settings) -> object:
    from consumer.silver import run as bronze_to_silver  # imported late: silver is optional until it exists

    return bronze_to_silver.run(settings)


def run_gold(settings: Settings) -> object:
    from consumer.gold import run as silver_to_gold

    return silver_to_gold.run(settings)


def run_maintenance(settings: Settings) -> object:
    from consumer import maintenance

    return maintenance.run(settings)


DEFAULT_STAGES: dict[Stage, StageFn] = {"silver": run_silver, "gold": run_gold, "maintenance": run_maintenance}


def wrote_rows(result: object) -> bool:
    """Whether a silver run's result says it wrote rows (unknown results count as yes)."""
    rows = getattr(result, "silver_rows", None)
    return rows is None or rows > 0


class LogWatcher:
    """The newest commit version of a Delta table, from its `_delta_log` file names: the folder is listed once,
    then each check looks for the next version's file (cheap enough to run twice a second, on S3 too: one HEAD)."""

    def __init__(self, path: Location) -> None:
        self.log = path / "_delta_log"
        self.version: int | None = None

    def newest(self) -> int | None:
        """The newest committed version, None while there is no table."""
        if self.version is None:
            self.version = max(delta_io.commit_versions(self.log.files()), default=None)
        while self.version is not None and (self.log / f"{self.version + 1:020d}.json").exists():
            self.version += 1
        return self.version


class EtlScheduler:
    """Runs the stages until stopped; one stage at a time, in this thread.

    Silver runs when bronze has a commit it has not been run after (checked every `poll_s`), and gold right after
    a silver run that wrote rows; the intervals are upper bounds (gold's also refreshes device health on time).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        only: tuple[Stage, ...] = STAGES,
        stages: Mapping[Stage, StageFn] | None = None,
        stop_event: threading.Event | None = None,
        lost_event: threading.Event | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.settings = settings
        self.poll_s = poll_s
        self.bronze = LogWatcher(tables.BRONZE.path(settings))
        self.bronze_seen: int | None = None  # the bronze version the last silver run started after
        self.only = only
        self.stages = dict(stages or DEFAULT_STAGES)
        self.stop = stop_event or threading.Event()
        self.lost = lost_event or threading.Event()  # set when the ETL lease this scheduler held was taken
        self.failures: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        self.runs: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        self.jobs = schedule.Scheduler()
        intervals = {
            "silver": settings.silver_interval_s,
            "gold": settings.gold_interval_s,
            "maintenance": settings.maintenance_interval_s,
        }
        for stage in only:
            self.jobs.every(intervals[stage]).seconds.do(self.tick, stage)

    def run_stage(self, stage: Stage) -> object | None:
        """Run one stage; a failure is logged on one line and counted, never raised."""
        logger.debug("stage %s: started", stage)  # with "ended": when each run held the lake (tests check overlaps)
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
        finally:
            logger.debug("stage %s: ended", stage)
        self.runs[stage] += 1
        return result

    def halted(self) -> bool:
        """Stopped, or no longer holding the ETL lease: no stage may start."""
        return self.stop.is_set() or self.lost.is_set()

    def tick(self, stage: Stage) -> None:
        """A scheduled run; after silver wrote rows, gold follows at once (freshness)."""
        if self.halted():
            return
        if stage == "silver":
            self.bronze_seen = self.bronze.newest()
        result = self.run_stage(stage)
        follow = stage == "silver" and "gold" in self.only and result is not None and wrote_rows(result)
        if follow and not self.halted():
            self.run_stage("gold")

    def run_once(self) -> bool:
        """Each stage once, in order; True when all succeeded."""
        failed = sum(self.failures.values())
        for stage in self.only:
            if not self.halted():
                self.run_stage(stage)
        return sum(self.failures.values()) == failed

    def bronze_changed(self) -> bool:
        """Whether bronze committed since the last silver run started."""
        newest = self.bronze.newest()
        return newest is not None and (self.bronze_seen is None or newest > self.bronze_seen)

    def run_forever(self) -> None:
        """Run silver and gold now, then silver on each new bronze commit and every stage on its interval, until
        the stop event (or the lost event) is set."""
        logger.info(
            "ETL scheduler (pid %d): %s; silver also on each new bronze commit (checked every %gs)",
            os.getpid(),
            ", ".join(f"{job.job_func.args[0]} at least every {job.interval}s" for job in self.jobs.jobs),
            self.poll_s,
        )
        if "silver" in self.only and not self.halted():
            self.bronze_seen = self.bronze.newest()
            self.run_stage("silver")
        if "gold" in self.only and not self.halted():
            self.run_stage("gold")
        silver_job = next((job for job in self.jobs.jobs if job.job_func.args[0] == "silver"), None)
        while not self.halted():
            if silver_job is not None and self.bronze_changed():
                silver_job.run()  # runs silver (and gold after it) and counts the interval from now
            self.jobs.run_pending()
            idle = self.jobs.idle_seconds
            self.stop.wait(max(0.05, min(idle if idle is not None else 1.0, self.poll_s)))
        logger.info("ETL scheduler stopped" if self.stop.is_set() else "ETL scheduler: back to standby")


def wait_for_lease(lease: Lease, stop: threading.Event) -> bool:
    """Try to take the lease until it is ours (True) or `stop` is set (False), trying again when the holder's
    expiry passes (at least every third of the TTL); one log line when the wait starts."""
    every = lease.ttl.total_seconds() / 3
    waiting = False
    while not stop.is_set():
        try:
            lease.acquire()
            return True
        except LeaseHeldError as exc:
            holder = exc.holder
            if not waiting:
                logger.info("standby: %s; taking over when it lapses", exc)
                waiting = True
            left = (holder.expires_at - lease.clock.now()).total_seconds() if holder is not None else every
            stop.wait(min(every, max(0.05, left + 0.05)))
        except (LakehouseError, DeltaError, OSError) as exc:  # the lake is unreachable: keep trying
            logger.warning("standby: cannot take the ETL lease (%s); trying again in %.0fs", one_line(str(exc)), every)
            stop.wait(every)
    return False


def serve(
    settings: Settings,
    *,
    only: tuple[Stage, ...] = STAGES,
    stop: threading.Event,
    lease: Lease | None = None,
    stages: Mapping[Stage, StageFn] | None = None,
) -> None:
    """Run the stages whenever this process holds the ETL lease, standing by while another one does, until
    `stop` is set."""
    lease = lease or Lease(settings)
    while wait_for_lease(lease, stop):
        with LeaseKeeper(lease) as kept:
            logger.info("holding the ETL lease as %s until %s", lease.owner, f"{lease.expires_at:%H:%M:%S}Z")
            EtlScheduler(settings, only=only, stages=stages, stop_event=stop, lost_event=kept.lost).run_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.scheduler",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="run the stage(s) once and exit (non-zero if one failed)")
    parser.add_argument(
        "--stage",
        choices=[*STAGES, "all"],
        default="all",
        help="which stage to run (default all: silver, gold, maintenance)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    stages = STAGES if args.stage == "all" else (args.stage,)
    if not args.once:
        serve(settings, only=stages, stop=stop)
        return 0
    try:
        with LeaseKeeper(Lease(settings)) as kept:
            return 0 if EtlScheduler(settings, only=stages, stop_event=stop, lost_event=kept.lost).run_once() else 1
    except LeaseHeldError as exc:
        print(f"{exc}; another ETL scheduler runs the stages, exiting", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
