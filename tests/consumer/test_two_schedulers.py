"""Two schedulers on "two hosts" (separate working directories, one lake): one runs the stages while the other
stands by; SIGKILL the holder and the standby takes over; their stage runs never overlap; silver holds one row
per event. No broker: the test writes bronze commits itself, as the ingest would."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from config.settings import Settings
from lake import delta_io, tables
from lake.lease import read_lease
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import append_bronze, encode, plug_event
from tests.kafka_helpers import env_of, wait_for

logger = logging.getLogger(__name__)

EVENTS_PER_COMMIT = 200
INGESTED = datetime(2026, 11, 23, 13, tzinfo=UTC)  # after every event (12:00 + up to 1,600 s)
STAGE_LINE = re.compile(r"^(\S+ \S+) DEBUG\s+\S+: stage (\w+): (started|ended)$")
TTL_S = 3


def _start(settings: Settings, host: Path) -> subprocess.Popen:
    host.mkdir()
    env = env_of(
        settings,
        PYTHONPATH=str(REPO),
        LOG_LEVEL="DEBUG",
        ETL_LEASE_TTL_S=str(TTL_S),
        SILVER_INTERVAL_S="1",
        GOLD_INTERVAL_S="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "consumer.scheduler"],
        cwd=host,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(host / "scheduler.log").open("w"),
    )


def _holder_pid(settings: Settings) -> int | None:
    lease = read_lease(settings)
    return int(lease.owner.split(":")[1]) if lease is not None and lease.live(datetime.now(UTC)) else None


def _append(settings: Settings, commit: int) -> None:
    first = commit * EVENTS_PER_COMMIT
    events = [plug_event(n, event_id=str(uuid.UUID(int=n + 1))) for n in range(first, first + EVENTS_PER_COMMIT)]
    append_bronze(settings, [encode(e) for e in events], start_offset=first, ingested_at=INGESTED)


def _caught_up(settings: Settings) -> bool:
    bronze = delta_io.open_table(tables.BRONZE.path(settings)).version()
    run_log = delta_io.read(tables.RUN_LOG.path(settings), columns=["bronze_version_to"])
    return not run_log.is_empty() and run_log["bronze_version_to"].max() == bronze


def _stage_runs(log: Path, *, killed_at: float | None = None) -> list[tuple[float, float, str]]:
    """(start, end, stage) of each stage run the log shows; a run the kill cut short ends at `killed_at`."""
    runs, open_run = [], None
    for line in log.read_text().splitlines():
        if match := STAGE_LINE.match(line):
            at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged
            if match[3] == "started":
                open_run = (at, match[2])
            else:
                runs.append((open_run[0], at, match[2]))
                open_run = None
    if open_run is not None:
        assert killed_at is not None, f"{log}: a stage run never ended"
        runs.append((open_run[0], killed_at, open_run[1]))
    return runs


def test_a_standby_takes_over_from_a_killed_holder_and_stage_runs_never_overlap(tmp_path: Path):
    settings = make_settings(LAKE_ROOT=tmp_path / "lake")
    commits = 0
    _append(settings, commits)
    commits += 1
    first = _start(settings, tmp_path / "host-a")
    second = None
    try:
        wait_for(lambda: _holder_pid(settings) == first.pid, what="host a to take the lease")
        holder = read_lease(settings).owner
        second = _start(settings, tmp_path / "host-b")
        wait_for(lambda: "standby:" in (tmp_path / "host-b" / "scheduler.log").read_text(), what="host b to wait")
        for _ in range(3):
            _append(settings, commits)
            commits += 1
            wait_for(lambda: _caught_up(settings), what="host a's silver to catch up")
        _append(settings, commits)  # host a is killed while it (likely) runs silver over this commit
        commits += 1
        killed_at = time.time()
        first.kill()
        first.wait(30)
        wait_for(lambda: _holder_pid(settings) == second.pid, timeout_s=20 * TTL_S, what="host b to take over")
        logger.info("host b took over %.1fs after the kill (TTL %ds)", time.time() - killed_at, TTL_S)
        for _ in range(3):
            _append(settings, commits)
            commits += 1
            wait_for(lambda: _caught_up(settings), what="host b's silver to catch up")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)
    waiting = [line for line in (tmp_path / "host-b" / "scheduler.log").read_text().splitlines() if "standby:" in line]
    assert len(waiting) == 1 and f"the ETL lease is held by {holder} until " in waiting[0], waiting
    runs_a = _stage_runs(tmp_path / "host-a" / "scheduler.log", killed_at=killed_at)
    runs_b = _stage_runs(tmp_path / "host-b" / "scheduler.log")
    assert runs_a and runs_b
    overlaps = [(a, b) for a in runs_a for b in runs_b if a[0] < b[1] and b[0] < a[1]]
    assert not overlaps
    assert min(start for start, _, _ in runs_b) > killed_at  # the standby ran nothing while host a lived
    assert read_lease(settings).released
    telemetry = delta_io.read(tables.SILVER.path(settings), columns=["event_id"])
    assert telemetry.height == telemetry["event_id"].n_unique() == commits * EVENTS_PER_COMMIT
    assert delta_io.read(tables.RUN_LOG.path(settings))["reconciled"].all()
