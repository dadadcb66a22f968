"""Silver: one run over ≥ 5 M bronze rows end to end (read the bronze commits, parse, validate, dedup, write)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from benchmarks.harness import BenchContext, Result, in_child, timed
from common.events import ARROW_SCHEMA
from config.settings import Settings
from consumer.silver.run import DEFAULT_CHUNK_ROWS
from lake import delta_io, tables

logger = logging.getLogger(__name__)

COMMIT_ROWS = 250_000  # what the ingest writes per commit at full speed
DEVICES = (
    ("smart_plug_001", "home_001", "smart_plug", 3000.0),
    ("smart_plug_002", "home_002", "smart_plug", 3000.0),
    ("smart_bulb_001", "home_001", "smart_bulb", 60.0),
    ("smart_bulb_002", "home_002", "smart_bulb", 60.0),
)
START = datetime(2026, 11, 23, tzinfo=UTC)


def bronze_commit(first: int, n: int, *, topic: str) -> pl.DataFrame:
    """n bronze rows holding schema-v1 events (about 280 bytes each), built without per-row Python."""
    i = pl.int_range(first, first + n, eager=True).alias("i")
    device = pl.DataFrame(
        {
            "d": range(len(DEVICES)),
            "device_id": [d[0] for d in DEVICES],
            "home_id": [d[1] for d in DEVICES],
            "device_type": [d[2] for d in DEVICES],
            "max_power": [d[3] for d in DEVICES],
        }
    )
    at = pl.lit(START) + pl.duration(milliseconds=pl.col("i") * 10)
    events = (
        pl.DataFrame(i)
        .with_columns((pl.col("i") % len(DEVICES)).alias("d"))
        .join(device, on="d")
        .sort("i")
        .with_columns(at.alias("at"))
    )
    value = pl.concat_str(
        pl.lit('{"schema_version":1,"event_id":"'),
        pl.col("i").cast(pl.String).str.zfill(32).str.replace(r"^(.{8})(.{4})(.{4})(.{4})(.{12})$", "$1-$2-$3-$4-$5"),
        pl.lit('","device_id":"'),
        "device_id",
        pl.lit('","home_id":"'),
        "home_id",
        pl.lit('","device_type":"'),
        "device_type",
        pl.lit('","seq":'),
        (pl.col("i") // len(DEVICES)).cast(pl.String),
        pl.lit(',"timestamp":"'),
        pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        pl.lit('","status":"online","alert":null,"is_on":true,"power_w":'),
        ((pl.col("i") * 7919 % 1000) / 1000 * pl.col("max_power")).round(2).cast(pl.String),
        pl.lit(',"energy_wh":'),
        ((pl.col("i") * 7919 % 1000) / 1000 * pl.col("max_power") / 360).round(4).cast(pl.String),
        pl.lit("}"),
    )
    ingested = pl.col("at") + pl.duration(seconds=2)
    return events.select(
        pl.lit(topic).alias("topic"),
        (pl.col("i") % 6).cast(pl.Int32).alias("partition"),
        (pl.col("i") // 6).alias("offset"),
        ingested.alias("kafka_timestamp"),
        pl.col("device_id").cast(pl.Binary).alias("key"),
        value.cast(pl.Binary).alias("value"),
        pl.lit(None, pl.List(pl.Struct({"key": pl.String, "value": pl.Binary}))).alias("headers"),
        ingested.alias("ingested_at"),
        ingested.dt.date().alias("ingest_date"),
    )


def load_bronze(settings: Settings, n: int) -> None:
    for first in range(0, n, COMMIT_ROWS):
        rows = bronze_commit(first, min(COMMIT_ROWS, n - first), topic=settings.telemetry_topic)
        delta_io.write(
            tables.BRONZE.path(settings),
            rows.to_arrow().cast(tables.BRONZE_ARROW_SCHEMA),
            partition_by=tables.BRONZE.partition_by,
            configuration=tables.BRONZE.configuration,
            app_transactions={tables.offset_marker(settings.telemetry_topic, 0): int(rows["offset"].max())},
        )


def bare_read_json(settings: Settings) -> float:
    """Seconds Arrow's JSON reader alone takes over the bronze values (explicit schema, the values already joined
    into one newline-delimited buffer): the floor any JSON silver has."""
    path = tables.BRONZE.path(settings)
    files = delta_io.open_table(path).file_uris()  # type: ignore[union-attr]
    values = pa.chunked_array([pq.read_table(f, columns=["value"])["value"] for f in files]).combine_chunks()
    values = values.cast(pa.large_binary())
    newline, empty = pa.scalar(b"\n", pa.large_binary()), pa.scalar(b"", pa.large_binary())
    lines = pc.binary_join_element_wise(values, empty, newline)
    buffer = lines.buffers()[2].slice(0, len(values) + pc.sum(pc.binary_length(values)).as_py())
    options = pj.ParseOptions(explicit_schema=ARROW_SCHEMA, unexpected_field_behavior="ignore")
    table, seconds = timed(lambda: pj.read_json(pa.BufferReader(buffer), parse_options=options))
    assert table.num_rows == len(values)
    return seconds


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(5_000_000, minimum=100_000)
    _, load_s = timed(lambda: load_bronze(ctx.settings, n))
    logger.info("silver: %d bronze rows loaded in %.1fs", n, load_s)
    before = bare_read_json(ctx.settings)
    child = in_child("consumer.silver.run:run", ctx.settings)  # its own process: peak RSS of silver alone
    bare = (before + bare_read_json(ctx.settings)) / 2  # measured before and after, so drift evens out
    written = delta_io.read(tables.SILVER.path(ctx.settings), columns=["event_id"]).height
    assert written == n, (written, n)
    rate, bare_rate = n / child.seconds, n / bare
    logger.info(
        "silver: %.2fs over %d rows, bare read_json %.2fs, peak RSS %.0f MiB",
        child.seconds,
        n,
        bare,
        child.peak_rss_mib,
    )
    return [
        Result(
            figure=f"silver run end to end over {n:,} bronze rows (read, parse, validate, dedup, write)",
            value=rate,
            unit="rows/s",
            reference=bare_rate,
            reference_label="bare pyarrow read_json of the same values, explicit schema",
            goal=">= 50% of bare read_json",
            met=rate >= 0.5 * bare_rate,
        ),
        Result(
            figure=f"silver run peak RSS over {n:,} bronze rows ({DEFAULT_CHUNK_ROWS:,}-row chunks; process "
            "incl. interpreter and libraries)",
            value=child.peak_rss_mib,
            unit="MiB",
            goal="bounded by the chunk size",
        ),
    ]
