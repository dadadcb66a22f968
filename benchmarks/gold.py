"""Gold: full recompute over ≥ 10 M silver rows against a bare polars pass, then an incremental run after 10 k
new events."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, write_deltalake

from benchmarks.harness import BenchContext, Result, in_child, timed
from common.clock import ManualClock
from config.settings import Settings
from consumer.gold import run as silver_to_gold
from consumer.gold.sample import synthetic_silver, ts, write_silver
from consumer.gold.storage import SILVER_COLUMNS
from consumer.gold.transforms import micro_wh
from lake import delta_io, tables

logger = logging.getLogger(__name__)

DAYS = 10
CHUNK = 1_000_000
NEW_EVENTS = 10_000
DEVICES = 700


def bare_gold(settings: Settings, out: Path) -> float:
    """Seconds plain polars and deltalake take to read silver's columns gold reads once, and write telemetry_1min
    and a daily per-device table (energy, power, temperature, readings) partitioned as gold's: no incremental
    machinery, no anomalies, no other tables; the floor of a full recompute."""

    def bare() -> None:
        silver = pl.from_arrow(
            DeltaTable(str(tables.SILVER.path(settings))).to_pyarrow_table(columns=list(SILVER_COLUMNS))
        ).lazy()  # type: ignore[union-attr]
        per_minute = (
            silver.group_by("device_id", minute=pl.col("event_time").dt.truncate("1m"))
            .agg(
                pl.col("home_id", "device_type").first(),
                avg_temperature_c=pl.col("temperature_c").mean(),
                avg_power_w=pl.col("power_w").mean(),
                energy_wh=pl.col("energy_wh").sum(),
                readings=pl.len(),
            )
            .with_columns(date=pl.col("minute").dt.date(), hour=pl.col("minute").dt.hour().cast(pl.Int8))
        )
        daily = (
            silver.group_by("event_date", "device_id")
            .agg(
                pl.col("home_id", "device_type").first(),
                energy_uwh=micro_wh().sum(),
                avg_power_w=pl.col("power_w").mean(),
                max_power_w=pl.col("power_w").max(),
                avg_temperature_c=pl.col("temperature_c").mean(),
                min_temperature_c=pl.col("temperature_c").min(),
                max_temperature_c=pl.col("temperature_c").max(),
                readings=pl.len(),
            )
            .rename({"event_date": "date"})
        )
        minute_frame, daily_frame = pl.collect_all([per_minute, daily])
        for name, frame, partitions in (
            ("telemetry_1min", minute_frame, ["date", "hour"]),
            ("daily", daily_frame, ["date"]),
        ):
            write_deltalake(
                str(out / name), frame.to_arrow(), partition_by=partitions, writer_properties=delta_io.WRITER_PROPERTIES
            )

    return timed(bare)[1]


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(10_000_000)
    start = ts("2026-11-10 00:00:00")
    end = start + timedelta(days=DAYS)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        chunk_start = start + timedelta(days=DAYS * first / n)
        write_silver(
            ctx.settings,
            synthetic_silver(
                size, start=chunk_start, days=DAYS * size / n, first_id=first, devices=DEVICES, seed=first
            ),
            version_marker=first,
        )
    before = bare_gold(ctx.settings, ctx.workdir / "bare-before")
    full = in_child("consumer.gold.run:run", ctx.settings, full=True)  # its own process: peak RSS of gold alone
    bare = (before + bare_gold(ctx.settings, ctx.workdir / "bare-after")) / 2  # drift evens out
    clock = ManualClock(end + timedelta(seconds=10))
    late = end - timedelta(seconds=10)
    write_silver(
        ctx.settings,
        synthetic_silver(NEW_EVENTS, start=late, days=10 / 86400, first_id=n, seed=n, devices=DEVICES),
        version_marker=n,
    )
    incremental, inc_s = timed(lambda: silver_to_gold.run(ctx.settings, clock=clock))
    rate, bare_rate = n / full.seconds, n / bare
    per_day = n // DAYS
    logger.info(
        "gold: full %.1fs over %d rows (bare %.1fs, peak RSS %.0f MiB); incremental %.2fs (%d date(s))",
        full.seconds,
        n,
        bare,
        full.peak_rss_mib,
        inc_s,
        len(incremental.dates),
    )
    return [
        Result(
            figure=f"gold full recompute, {n:,} silver rows over {DAYS} days (rows/s)",
            value=rate,
            unit="rows/s",
            reference=bare_rate,
            reference_label="bare polars: same silver read, telemetry_1min and daily written",
            goal=">= 60% of bare pass",
            met=rate >= 0.6 * bare_rate,
        ),
        Result(
            figure=f"gold full recompute peak RSS over {n:,} silver rows ({silver_to_gold.BATCH_ROWS:,}-row batches "
            "of dates; process incl. interpreter and libraries)",
            value=full.peak_rss_mib,
            unit="MiB",
            goal="bounded by chunking",
        ),
        Result(
            figure=f"gold incremental run after {NEW_EVENTS:,} new events (day of {per_day:,} rows, "
            f"24 h health window)",
            value=inc_s,
            unit="s",
            goal="<= 1 s",
            met=inc_s <= 1.0,
        ),
    ]
