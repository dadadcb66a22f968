"""Gold runs against real Delta tables: exact energy, late data, reruns, kill -9 and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.clock import ManualClock
from consumer import maintenance
from consumer.gold import run as silver_to_gold
from consumer.gold import storage as gold_io
from consumer.gold import transforms as gt
from consumer.gold.sample import gold, quarantine_rows, silver_rows, synthetic_silver, write_quarantine, write_silver
from lake import delta_io, tables
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of
from tests.races import commit_in_turn, run_both

TABLES = (*silver_to_gold.DATE_TABLES, "device_health_metrics")
START = datetime(2026, 11, 18, tzinfo=UTC)
CLOCK_AT = START + timedelta(days=3)


def snapshot(settings) -> dict[str, pl.DataFrame]:
    return {table: gold(settings, table) for table in TABLES}


def files_by_partition(settings, table: str) -> dict:
    """Partition values (a tuple) → the table's data files there."""
    actions = delta_io.add_actions(delta_io.open_table(tables.get(f"gold/{table}").path(settings)))
    return {
        key: sorted(g["path"])
        for key, g in actions.group_by(*(c for c in actions.columns if c.startswith("partition.")))
    }


def test_gold_energy_equals_silver_energy_exactly(settings):
    frame = synthetic_silver(50_000, start=START, days=3, devices=40)
    for part in frame.iter_slices(20_000):
        write_silver(settings, part)
    silver_to_gold.run(settings, clock=ManualClock(CLOCK_AT))
    silver = delta_io.read(tables.SILVER.path(settings))
    silver_uwh = silver.select(gt.micro_wh()).to_series().sum()
    daily = gold(settings, "daily_energy_consumption")
    assert daily.select((pl.col("energy_kwh") * 1e9).round().cast(pl.Int64)).to_series().sum() == silver_uwh
    assert abs(daily["energy_kwh"].sum() * 1000 - silver["energy_wh"].sum()) < 1e-6
    summary = gold(settings, "daily_business_summary")
    assert summary.select((pl.col("total_energy_kwh") * 1e9).round().cast(pl.Int64)).to_series().sum() == silver_uwh


def test_late_event_changes_only_its_own_day_and_rerun_changes_nothing(settings):
    write_silver(settings, synthetic_silver(3_000, start=START, days=3, devices=10))
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(settings, clock=clock)
    before, files_before = snapshot(settings), files_by_partition(settings, "daily_energy_consumption")
    minutes_before = files_by_partition(settings, "telemetry_1min")
    versions = {
        t: delta_io.open_table(tables.get(f"gold/{t}").path(settings)).version() for t in silver_to_gold.DATE_TABLES
    }

    rerun = silver_to_gold.run(settings, clock=clock)
    assert rerun.dates == () and set(rerun.rows) == {"device_health_metrics"}
    for table, frame in snapshot(settings).items():
        assert_frame_equal(frame, before[table])
    assert versions == {
        t: delta_io.open_table(tables.get(f"gold/{t}").path(settings)).version() for t in silver_to_gold.DATE_TABLES
    }

    late_day = START.date()
    write_silver(
        settings,
        silver_rows(
            [
                {
                    "event_time": "2026-11-18 12:00:00",
                    "device_id": "dev_00001",
                    "home_id": "home_0000",
                    "energy_wh": 1234.5,
                    "power_w": 10.0,
                }
            ]
        ),
    )
    result = silver_to_gold.run(settings, clock=clock)
    assert (result.dates, result.hours) == ((late_day,), 1)
    after, files_after = snapshot(settings), files_by_partition(settings, "daily_energy_consumption")
    assert {d: f for d, f in files_after.items() if d != (late_day,)} == {
        d: f for d, f in files_before.items() if d != (late_day,)
    }
    minutes_after = files_by_partition(settings, "telemetry_1min")  # only the late event's hour is rewritten
    assert {k: f for k, f in minutes_after.items() if k != (late_day, 12)} == {
        k: f for k, f in minutes_before.items() if k != (late_day, 12)
    }
    assert minutes_after[(late_day, 12)] != minutes_before[(late_day, 12)]
    for table in ("daily_energy_consumption", "daily_business_summary", "telemetry_1min"):
        assert_frame_equal(
            after[table].filter(pl.col("date") != late_day), before[table].filter(pl.col("date") != late_day)
        )
    old_day = before["daily_business_summary"].filter(pl.col("date") == late_day)
    new_day = after["daily_business_summary"].filter(pl.col("date") == late_day)
    assert new_day["total_energy_kwh"][0] - old_day["total_energy_kwh"][0] == pytest.approx(1.2345, rel=1e-9)
    assert new_day["events"][0] == old_day["events"][0] + 1


def test_quarantine_only_change_updates_its_day(settings):
    write_silver(settings, synthetic_silver(500, start=START, days=1, devices=5))
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(settings, clock=clock)
    write_quarantine(settings, quarantine_rows([("2026-11-18 05:00:00", ["bad_json"])]))
    result = silver_to_gold.run(settings, clock=clock)
    assert result.dates == (START.date(),)
    assert set(result.rows) == {"daily_business_summary", "data_quality_daily", "device_health_metrics"}
    assert gold(settings, "daily_business_summary")["quarantined_events"].to_list() == [1]
    assert gold(settings, "data_quality_daily").filter(action="quarantine")["rows"].to_list() == [1]


def test_sigkill_mid_run_then_rerun_gives_identical_tables(tmp_path):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = synthetic_silver(400_000, start=today - timedelta(days=3), days=3, devices=112)
    reference, killed = make_settings(LAKE_ROOT=tmp_path / "ref"), make_settings(LAKE_ROOT=tmp_path / "killed")
    for s in (reference, killed):
        for part in rows.iter_slices(100_000):
            write_silver(s, part)
    clock = ManualClock(today)
    silver_to_gold.run(reference, clock=clock)

    proc = subprocess.Popen(
        [sys.executable, "-m", "consumer.gold"],
        cwd=REPO,
        env=env_of(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_table = Path(tables.get(f"gold/{silver_to_gold.DATE_TABLES[0]}").path(killed)) / "_delta_log"
    deadline = time.monotonic() + 60
    while not first_table.is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = [t for t in TABLES if (tables.get(f"gold/{t}").path(killed) / "_delta_log").is_dir()]
    assert len(written) < len(TABLES), "the run finished before it was killed"

    silver_to_gold.run(killed, clock=clock)
    for table in TABLES:
        assert_frame_equal(gold(killed, table), gold(reference, table))


def test_command_line_run(settings):
    write_silver(settings, silver_rows([{"event_time": "2026-11-18 12:00:00", "device_id": "d1", "energy_wh": 5.0}]))
    proc = subprocess.run(
        [sys.executable, "-m", "consumer.gold"],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert gold(settings, "daily_energy_consumption")["energy_kwh"].to_list() == [0.005]


def test_silver_compaction_recomputes_nothing(settings):
    for part in synthetic_silver(2_000, start=START, days=1, devices=5).iter_slices(500):
        write_silver(settings, part)
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(settings, clock=clock)
    before = snapshot(settings)
    maintenance.maintain_table(tables.SILVER.path(settings), retention_hours=24)
    result = silver_to_gold.run(settings, clock=clock)
    assert result.dates == ()
    assert {table for table, rows in result.rows.items() if rows} == {"device_health_metrics"}
    consumed = {gold_io.consumed(settings, tables.get(f"gold/{t}")) for t in silver_to_gold.DATE_TABLES}
    assert consumed == {result.silver_version}
    for table, frame in snapshot(settings).items():
        assert_frame_equal(frame, before[table])


def test_new_rows_either_side_of_midnight_replace_only_their_own_hours(settings):
    def readings(*times: str) -> pl.DataFrame:
        return silver_rows(
            [
                {"event_id": f"{t}-{i}", "device_id": "p1", "event_time": t, "power_w": 100.0, "energy_wh": 1.0}
                for i, t in enumerate(times)
            ]
        )

    clock = ManualClock(datetime(2026, 11, 21, 6, tzinfo=UTC))
    write_silver(settings, readings("2026-11-19 12:00:00", "2026-11-20 12:00:00"))
    silver_to_gold.run(settings, clock=clock)
    write_silver(settings, readings("2026-11-19 23:30:00", "2026-11-20 00:30:00"))
    silver_to_gold.run(settings, clock=clock)
    daily = gold(settings, "daily_energy_consumption").sort("date")
    assert daily["readings"].to_list() == [2, 2] and daily["energy_kwh"].to_list() == [0.002, 0.002]
    hourly = delta_io.read(tables.DEVICE_HOURLY.path(settings))
    assert hourly.height == 4


def test_two_runs_at_the_same_instant_equal_one_run(tmp_path, monkeypatch):
    rows = synthetic_silver(20_000, start=START, days=2, devices=20)
    one, raced = make_settings(LAKE_ROOT=tmp_path / "one"), make_settings(LAKE_ROOT=tmp_path / "raced")
    for target in (one, raced):
        for part in rows.iter_slices(5_000):
            write_silver(target, part)
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(one, clock=clock)
    commit_in_turn(monkeypatch)
    run_both(lambda: silver_to_gold.run(raced, clock=clock), lambda: silver_to_gold.run(raced, clock=clock))
    for table in TABLES:
        assert_frame_equal(gold(raced, table), gold(one, table))


def test_a_run_in_batches_of_dates_equals_one_batch(tmp_path, monkeypatch):
    rows = synthetic_silver(20_000, start=START, days=3, devices=20)
    one, batched = make_settings(LAKE_ROOT=tmp_path / "one"), make_settings(LAKE_ROOT=tmp_path / "batched")
    for target in (one, batched):
        write_silver(target, rows)
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(one, clock=clock)
    monkeypatch.setattr(silver_to_gold, "BATCH_ROWS", 1)  # every date its own batch
    silver_to_gold.run(batched, clock=clock)
    for table in TABLES:
        assert_frame_equal(gold(batched, table), gold(one, table))


def test_a_run_killed_between_batches_records_no_versions_and_the_next_run_finishes(tmp_path, monkeypatch):
    rows = synthetic_silver(20_000, start=START, days=3, devices=20)
    reference, killed = make_settings(LAKE_ROOT=tmp_path / "ref"), make_settings(LAKE_ROOT=tmp_path / "killed")
    for target in (reference, killed):
        write_silver(target, rows)
    clock = ManualClock(CLOCK_AT)
    silver_to_gold.run(reference, clock=clock)
    monkeypatch.setattr(silver_to_gold, "BATCH_ROWS", 1)
    daily = silver_to_gold.GoldRun.daily

    def dies_after_the_first_batch(self, touched):
        daily(self, touched)
        raise KeyboardInterrupt

    monkeypatch.setattr(silver_to_gold.GoldRun, "daily", dies_after_the_first_batch)
    with pytest.raises(KeyboardInterrupt):
        silver_to_gold.run(killed, clock=clock)
    assert [gold_io.consumed(killed, tables.get(f"gold/{t}")) for t in silver_to_gold.DATE_TABLES] == [None] * len(
        silver_to_gold.DATE_TABLES
    )
    monkeypatch.setattr(silver_to_gold.GoldRun, "daily", daily)
    silver_to_gold.run(killed, clock=clock)
    for table in TABLES:
        assert_frame_equal(gold(killed, table), gold(reference, table))


def test_new_rows_within_an_hour_replace_only_their_own_minutes(tmp_path):
    """telemetry_1min of an hour silver changed only in part: just the changed minutes are recomputed and replaced,
    and the table equals a full recompute."""
    split, once = make_settings(LAKE_ROOT=tmp_path / "split"), make_settings(LAKE_ROOT=tmp_path / "once")
    clock = ManualClock(datetime(2026, 11, 19, 11, tzinfo=UTC))

    def readings(*times: str) -> pl.DataFrame:
        rows = [{"event_id": t, "device_id": "p1", "event_time": t, "power_w": 100.0, "energy_wh": 1.0} for t in times]
        return silver_rows(rows)

    first, late = (
        readings("2026-11-19 10:00:00", "2026-11-19 10:20:00", "2026-11-19 10:40:00"),
        readings("2026-11-19 10:20:30", "2026-11-19 10:21:10"),
    )
    write_silver(split, first)
    silver_to_gold.run(split, clock=clock)
    consumed = delta_io.open_table(tables.SILVER.path(split)).version()  # type: ignore[union-attr]
    write_silver(split, late)
    hour, silver = datetime(2026, 11, 19, 10, tzinfo=UTC), delta_io.open_table(tables.SILVER.path(split))
    assert gold_io.touched_minutes(silver, tables.SILVER.path(split), since=consumed) == {  # type: ignore[arg-type]
        hour: (hour + timedelta(minutes=20), hour + timedelta(minutes=22))
    }
    silver_to_gold.run(split, clock=clock)
    write_silver(once, pl.concat([first, late]))
    silver_to_gold.run(once, clock=clock)
    minutes = gold(split, "telemetry_1min").sort("minute")
    assert minutes["readings"].to_list() == [1, 2, 1, 1]
    for table in TABLES:
        assert_frame_equal(gold(split, table), gold(once, table))
