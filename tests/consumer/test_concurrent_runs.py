"""Silver and gold run twice at once, ten times, each process taking the ETL lease over from the other when it
lapses under a run that is still going (a holder paused past its expiry), after an expired lease is planted
before each round: the runs overlap, yet nothing is written twice and gold equals a fresh recompute."""

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
from lake.lease import Lease
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import append_bronze, encode, plug_event
from tests.kafka_helpers import env_of

DAY = datetime(2026, 11, 23, tzinfo=UTC)
INGESTED = DAY + timedelta(hours=10, minutes=30)  # after every event of the ten rounds (hours 0..9)
CLOCK = DAY + timedelta(hours=23)
ROUNDS, EVENTS, REDELIVERED, BROKEN = 10, 2_000, 100, 50
GOLD_TABLES = (*silver_to_gold.DATE_TABLES, "device_health_metrics")

# A stage process: for each "go <epoch>" line on stdin, takes the ETL lease at that instant (waiting for it to
# lapse when the other process holds it) and runs its stage, never renewing the lease: a holder paused past its
# expiry, whose run the other process's overlaps. Prints "ok <start> <end>" (epoch seconds of the run) or the error.
WORKER = """
import sys, time
from datetime import datetime
from common.cli import setup_logging
from common.clock import ManualClock
from config.settings import Settings
from consumer.gold.run import run as gold_run
from consumer.silver.run import run as silver_run
from lake.lease import Lease, LeaseHeldError
stage, clock, settings = sys.argv[1], ManualClock(datetime.fromisoformat(sys.argv[2])), Settings.from_env()
setup_logging("INFO")
lease = Lease(settings, ttl_s=float(sys.argv[3]))
for line in sys.stdin:
    time.sleep(max(0.0, float(line.split()[1]) - time.time()))
    try:
        while True:
            try:
                lease.acquire()
                break
            except LeaseHeldError as held:
                left = (held.holder.expires_at - lease.clock.now()).total_seconds() if held.holder else 0.0
                time.sleep(max(0.0, left) + 0.01)
        start = time.time()
        silver_run(settings, max_chunk_rows=1000) if stage == "silver" else gold_run(settings, clock=clock)
        print("ok", start, time.time(), flush=True)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}".replace(chr(10), " "), flush=True)
"""
LEASE_TTL_S = 0.1  # shorter than a run: the second process takes the lease over while the first one still runs


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


def _plant_expired_lease(settings: Settings) -> None:
    """The lease of a scheduler killed with -9 a minute after its last renewal: expired, never released."""
    clock = ManualClock(datetime.now(UTC))
    planted = Lease(settings, owner="gone:9:dead00", ttl_s=1, clock=clock)
    planted.acquire()  # the workers' leases of the last round have lapsed
    clock.advance(-60)
    planted.renew()  # dated a minute ago


def _go(workers: list[subprocess.Popen]) -> list[list[str]]:
    start = time.time() + 0.3
    for worker in workers:
        worker.stdin.write(f"go {start}\n")
        worker.stdin.flush()
    return [(worker.stdout.readline().strip() or f"exited {worker.wait(30)}").split() for worker in workers]


def _overlap(answers: list[list[str]]) -> bool:
    (_, start_a, end_a), (_, start_b, end_b) = answers
    return float(start_a) < float(end_b) and float(start_b) < float(end_a)


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
            [sys.executable, "-c", WORKER, stage, CLOCK.isoformat(), str(LEASE_TTL_S)],
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
        offset, overlapped = 0, 0
        for round_ in range(ROUNDS):
            offset = _append_round(settings, round_, offset)
            _plant_expired_lease(settings)
            answers = _go(workers)
            assert [a[0] for a in answers] == ["ok"] * 4, answers
            overlapped += _overlap(answers[:2])
        assert [a[0] for a in _go(workers[2:])] == ["ok", "ok"]  # gold catches up with the last silver, racing again
        assert overlapped  # the lease lapsed under a running silver and the other process's run overlapped it
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
