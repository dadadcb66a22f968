"""Silver: one run over ≥ 5 M bronze rows end to end (read the bronze commits, parse, validate, dedup, write)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import polars as pl

from benchmarks.harness import BenchContext, Result, timed
from config.settings import Settings
from consumer.silver import run as bronze_to_silver
from lake import delta_io, tables

logger = logging.getLogger(__name__)

COMMIT_ROWS = 250_000  # what the ingest writes per commit at full speed
DEVICES = (("smart_plug_001", "home_001", "smart_plug", 3000.0), ("smart_plug_002", "home_002", "smart_plug", 3000.0),
           ("smart_bulb_001", "home_001", "smart_bulb", 60.0), ("smart_bulb_002", "home_002", "smart_bulb", 60.0))
START = datetime(2026, 11, 23, tzinfo=UTC)


def bronze_commit(first: int, n: int, *, topic: str) -> pl.DataFrame:
    """n bronze rows holding schema-v1 events (about 280 bytes each), built without per-row Python."""
    i = pl.int_range(first, first + n, eager=True).alias("i")
    device = pl.DataFrame({"d": range(len(DEVICES)), "device_id": [d[0] for d in DEVICES],
                           "home_id": [d[1] for d in DEVICES], "device_type": [d[2] for d in DEVICES],
                           "max_power": [d[3] for d in DEVICES]})
    at = pl.lit(START) + pl.duration(milliseconds=pl.col("i") * 10)
    events = (pl.DataFrame(i).with_columns((pl.col("i") % len(DEVICES)).alias("d")).join(device, on="d")
              .sort("i").with_columns(at.alias("at")))
    value = pl.concat_str(
        pl.lit('{"schema_version":1,"event_id":"'), pl.col("i").cast(pl.String).str.zfill(32)
        .str.replace(r"^(.{8})(.{4})(.{4})(.{4})(.{12})$", "$1-$2-$3-$4-$5"),
        pl.lit('","device_id":"'), "device_id", pl.lit('","home_id":"'), "home_id",
        pl.lit('","device_type":"'), "device_type", pl.lit('","seq":'), (pl.col("i") // len(DEVICES)).cast(pl.String),
        pl.lit(',"timestamp":"'), pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        pl.lit('","status":"online","alert":null,"is_on":true,"power_w":'),
        ((pl.col("i") * 7919 % 1000) / 1000 * pl.col("max_power")).round(2).cast(pl.String),
        pl.lit(',"energy_wh":'), ((pl.col("i") * 7919 % 1000) / 1000 * pl.col("max_power") / 360).round(4).cast(pl.String),
        pl.lit("}"),
    )
    ingested = pl.col("at") + pl.duration(seconds=2)
    return events.select(
        pl.lit(topic).alias("topic"), (pl.col("i") % 6).cast(pl.Int32).alias("partition"),
        (pl.col("i") // 6).alias("offset"), ingested.alias("kafka_timestamp"), pl.col("device_id").cast(pl.Binary).alias("key"),
        value.cast(pl.Binary).alias("value"), pl.lit(None, pl.List(pl.Struct({"key": pl.String, "value": pl.Binary}))).alias("headers"),
        ingested.alias("ingested_at"), ingested.dt.date().alias("ingest_date"))


def load_bronze(settings: Settings, n: int) -> None:
    for first in range(0, n, COMMIT_ROWS):
        rows = bronze_commit(first, min(COMMIT_ROWS, n - first), topic=settings.telemetry_topic)
        delta_io.write(tables.BRONZE.path(settings), rows.to_arrow().cast(tables.BRONZE_ARROW_SCHEMA),
                       partition_by=tables.BRONZE.partition_by,
                       configuration=tables.BRONZE.configuration,
                       app_transactions={tables.offset_marker(settings.telemetry_topic, 0): int(rows["offset"].max())})


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(5_000_000, minimum=100_000)
    _, load_s = timed(lambda: load_bronze(ctx.settings, n))
    logger.info("silver: %d bronze rows loaded in %.1fs", n, load_s)
    result, seconds = timed(lambda: bronze_to_silver.run(ctx.settings))
    assert result.bronze_rows == n == result.silver_rows, result
    rate = n / seconds
    return [Result(figure=f"silver run end to end over {n:,} bronze rows (read, parse, validate, dedup, write)",
                   value=rate, unit="rows/s", goal=">= 1,000,000 rows/s", met=rate >= 1_000_000)]
