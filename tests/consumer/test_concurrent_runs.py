"""Silver and gold run twice at the same instant, ten times, with a stale ETL lock planted before each round:
nothing is written twice and gold equals a fresh recompute."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from common.clock import ManualClock
from config.settings import Settings
from consumer.gold import run as silver_to_gold
from consumer.gold.sample import gold
from lake import delta_io, tables
from lake.lock import lock_path
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import append_bronze, encode, plug_event
from tests.kafka_helpers import env_of

DAY = datetime(2026, 11, 23, tzinfo=UTC)
INGESTED = DAY + timedelta(hours=10, minutes=30)  # after every event of the ten rounds (hours 0..9)
CLOCK = DAY + timedelta(hours=23)
ROUNDS, EVENTS, REDELIVERED, BROKEN = 10, 2_000, 100, 50
GOLD_TABLES = (*silver_to_gold.DATE_TABLES, "device_health_metrics")

# A stage process: for each "go <epoch>" line on stdin, runs its stage at that instant and prints one line:
# "ok", or the error (a second silver run is refused by the ETL lock).
WORKER = """
import sys, time
from datetime import datetime
from common.cli import setup_logging
from common.clock import ManualClock
from config.settings import Settings
from consumer.gold.run import run as gold_run
from consumer.silver.run import main as silver_main
from lake.lock import LockHeldError
stage, clock = sys.argv[1], ManualClock(datetime.fromisoformat(sys.argv[2]))
setup_logging("INFO")
for line in sys.stdin:
    time.sleep(max(0.0, float(line.split()[1]) - time.time()))
    try:
        silver_main(["--max-chunk-rows", "1000"]) if stage == "silver" else gold_run(Settings.from_env(), clock=clock)
        print("ok", flush=True)
    except LockHeldError:
        print("refused", flush=True)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}".replace(chr(10), " "), flush=True)
"""


def _event(round_: int, i: int) -> dict:
    plug = 1 + i % 2
    at = DAY + timedelta(hours=round_, seconds=i * 1.5)
    return plug_event(
        i,
        event_id=str(uuid.UUID(int=round_ * 1_000_000 + i + 1)),
        seq=round_ * EVENTS + i,
        device_id=f"smart_plug_00{plug}",
        home_id=f"home_00{plug}",
        timestamp=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def _append_round(settings: Settings, round_: int, offset: int) -> int:
    """The round's bronze commits: new events, redeliveries of the previous round's, broken values."""
    values = [encode(_event(round_, i)) for i in range(EVENTS)]
    values += [encode(_event(round_ - 1, i)) for i in range(REDELIVERED)] if round_ else []
    values += [b'{"broken": %d' % i for i in range(BROKEN)]
    for part in (values[: len(values) // 2], values[len(values) // 2 :]):
        append_bronze(settings, part, start_offset=offset, ingested_at=INGESTED)
        offset += len(part)
    return offset


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _go(workers: list[subprocess.Popen]) -> list[str]:
    start = time.time() + 0.3
    for worker in workers:
        worker.stdin.write(f"go {start}\n")
        worker.stdin.flush()
    return [worker.stdout.readline().strip() or f"exited {worker.wait(30)}" for worker in workers]


def _fresh_gold(settings: Settings, root: Path) -> Settings:
    """A separate lake with a copy of silver, and gold recomputed from it in one full run."""
    fresh = make_settings(LAKE_ROOT=root)
    shutil.copytree(settings.lake_root / "silver", root / "silver")
    silver_to_gold.run(fresh, clock=ManualClock(CLOCK), full=True)
    return fresh


def test_ten_rounds_of_two_silver_and_two_gold_runs_at_once_write_nothing_twice(tmp_path):
    settings = make_settings(LAKE_ROOT=tmp_path / "lake")
    log = (tmp_path / "workers.log").open("w")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, stage, CLOCK.isoformat()],
            cwd=REPO,
            env=env_of(settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        for stage in ("silver", "silver", "gold", "gold")
    ]
    try:
        offset = 0
        for round_ in range(ROUNDS):
            offset = _append_round(settings, round_, offset)
            lock_path(settings).write_text(str(_dead_pid()))  # a scheduler killed with -9 left its pid behind
            silver, gold_runs = (answers := _go(workers))[:2], answers[2:]
            assert sorted(silver) in (["ok", "refused"], ["ok", "ok"]) and gold_runs == ["ok", "ok"], answers
        assert _go(workers[2:]) == ["ok", "ok"]  # gold catches up with the last round's silver, racing again
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(60)
        log.close()
    telemetry = delta_io.read(tables.SILVER.path(settings), columns=["event_id"])
    assert telemetry.height == telemetry["event_id"].n_unique() == ROUNDS * EVENTS
    assert delta_io.read(tables.QUARANTINE.path(settings)).height == ROUNDS * BROKEN
    run_log = delta_io.read(tables.RUN_LOG.path(settings))
    assert run_log["reconciled"].all() and int(run_log["bronze_rows"].sum()) == offset
    assert delta_io.open_table(tables.BRONZE.path(settings)).count() == offset
    fresh = _fresh_gold(settings, tmp_path / "fresh")
    for table in GOLD_TABLES:
        assert_frame_equal(gold(settings, table), gold(fresh, table), check_dtypes=False), table
    daily = gold(settings, "daily_energy_consumption")
    assert int(daily["readings"].sum()) == ROUNDS * EVENTS and daily.filter(pl.col("readings") > 0).height == 2
