"""Silver tables built directly in the registry's schema (lake/tables.py), for gold's tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from config.catalog import device_types
from config.settings import Settings
from lake import delta_io, tables

TYPES = [
    "thermostat",
    "smart_plug",
    "smart_bulb",
    "security_camera",
    "motion_sensor",
    "environment_sensor",
    "energy_meter",
]
HOMES = {"h1": "Home One", "h2": "Home Two"}


def ts(text: str) -> datetime:
    """'2026-11-20 10:00:30' as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def silver_rows(rows: list[dict]) -> pl.DataFrame:
    """Silver rows from partial dicts: event_time (str) and device_id required, the rest defaulted."""
    full = []
    for i, row in enumerate(rows):
        event_time = ts(row["event_time"])
        home = row.get("home_id", "h1")
        full.append(
            {
                "event_id": row.get("event_id", f"e{i:06d}"),
                "home_id": home,
                "device_type": "smart_plug",
                "schema_version": 1,
                "seq": i,
                "status": "online",
                "warnings": [],
                "home_name": HOMES.get(home, home),
                "location": "kitchen",
                "manufacturer": "TP-Link",
                "model": "KP115",
                "installation_date": date(2022, 1, 1),
                "device_age_days": 1000,
                "kafka_partition": 0,
                "kafka_offset": i,
                "ingested_at": event_time,
                "processing_delay_s": 0.0,
                "is_late_event": False,
                "quality_score": 1.0,
                **row,
                "event_time": event_time,
                "event_date": event_time.date(),
            }
        )
    return pl.DataFrame(full, schema=tables.SILVER.schema)


def quarantine_rows(rows: list[tuple[str, list[str]]]) -> pl.DataFrame:
    """Quarantine rows from (quarantined_at, failed_rules) pairs."""
    full = [
        {
            "topic": "t",
            "partition": 0,
            "offset": i,
            "kafka_timestamp": ts(at),
            "key": None,
            "value": b"{}",
            "ingested_at": ts(at),
            "failed_rules": rules,
            "event_id": None,
            "device_id": None,
            "quarantined_at": ts(at),
            "quarantine_date": ts(at).date(),
        }
        for i, (at, rules) in enumerate(rows)
    ]
    return pl.DataFrame(full, schema=tables.QUARANTINE.schema)


def write_silver(settings: Settings, frame: pl.DataFrame, *, version_marker: int = 0) -> None:
    """Append rows to silver/telemetry as silver does (partitioned by event_date, progress marker in the commit)."""
    delta_io.write(
        tables.SILVER.path(settings),
        frame.select(list(tables.SILVER.schema)).cast(tables.SILVER.schema),
        partition_by=tables.SILVER.partition_by,
        app_transactions={tables.SILVER.marker(): version_marker},
    )


def write_quarantine(settings: Settings, frame: pl.DataFrame) -> None:
    """Append rows to silver/quarantine."""
    delta_io.write(tables.QUARANTINE.path(settings), frame, partition_by=tables.QUARANTINE.partition_by)


def gold(settings: Settings, table: str) -> pl.DataFrame:
    """A gold table, sorted by all its columns (comparable across runs)."""
    frame = delta_io.read(tables.get(f"gold/{table}").path(settings))
    return frame.select(sorted(frame.columns)).sort(sorted(frame.columns), nulls_last=True)


def synthetic_silver(
    n: int, *, start: datetime, days: float, devices: int = 700, seed: int = 0, first_id: int = 0
) -> pl.DataFrame:
    """`n` silver rows spread evenly over `days` from `start` across `devices` devices (7 per home), vectorised.

    Power lies in the lower half of each type's valid range (config/device_types.toml), as silver would let it
    through; types that measure no power have none."""
    rng = np.random.default_rng(seed)
    step_us = int(days * 86_400_000_000 / n)
    i = pl.int_range(first_id, first_id + n, eager=True, dtype=pl.Int64)
    device = i % devices
    top = np.array([device_types()[t].ranges.get("power_w", (0.0, np.nan))[1] / 2 for t in TYPES])
    power = (rng.uniform(0.0, 1.0, n) * top[(device % len(TYPES)).to_numpy()]).round(2)
    frame = (
        pl.DataFrame(
            {
                "i": i,
                "device": device,
                "power_w": pl.Series(power).fill_nan(None),
                "temperature_c": rng.normal(21.0, 3.0, n).round(2),
                "u": rng.uniform(0.0, 1.0, n),
            }
        )
        .with_columns(
            energy_wh=(pl.col("power_w") * 10 / 3600).round(4),
            event_id=pl.format("e{}", pl.col("i")),
            device_id=pl.format("dev_{}", pl.col("device").cast(pl.String).str.zfill(5)),
            home_id=pl.format("home_{}", (pl.col("device") // 7).cast(pl.String).str.zfill(4)),
            device_type=pl.lit(pl.Series(TYPES)).gather(pl.col("device") % 7),
            event_time=pl.lit(start, tables.UTC_TS) + pl.duration(microseconds=(pl.col("i") - first_id) * step_us),
            status=pl.when(pl.col("u") < 0.01).then(pl.lit("error")).otherwise(pl.lit("online")),
            alert=pl.when(pl.col("u") > 0.995).then(pl.lit("high_power")),
            warnings=pl.when(pl.col("u").is_between(0.5, 0.51))
            .then(pl.lit(["stale_reading"]))
            .otherwise(pl.lit([], pl.List(pl.String))),
            seq=pl.col("i"),
            kafka_offset=pl.col("i"),
            schema_version=pl.lit(1),
        )
        .with_columns(
            event_date=pl.col("event_time").dt.date(),
            ingested_at=pl.col("event_time"),
            home_name=pl.col("home_id"),
            location=pl.lit("kitchen"),
        )
    )
    schema = tables.SILVER.schema
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(tables.SILVER.schema)).cast(tables.SILVER.schema)
