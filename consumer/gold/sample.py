"""Silver tables for gold tests, built directly in the contract's schema (docs/data_model.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from config.settings import Settings
from lake import delta_io

TS = pl.Datetime("us", "UTC")
F = pl.Float64()

SILVER_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(), "device_id": pl.String(), "home_id": pl.String(), "device_type": pl.String(),
    "schema_version": pl.Int32(), "seq": pl.Int64(), "event_time": TS, "event_date": pl.Date(), "status": pl.String(),
    "alert": pl.String(), "temperature_c": F, "humidity_pct": F, "setpoint_c": F, "power_w": F, "energy_wh": F,
    "battery_pct": F, "co_ppm": F, "lpg_ppm": F, "smoke_ppm": F, "motion": pl.Boolean(), "light": pl.Boolean(),
    "is_on": pl.Boolean(), "home_name": pl.String(), "location": pl.String(), "manufacturer": pl.String(),
    "model": pl.String(), "installation_date": pl.Date(), "device_age_days": pl.Int32(), "kafka_partition": pl.Int32(),
    "kafka_offset": pl.Int64(), "ingested_at": TS, "processing_delay_s": F, "is_late_event": pl.Boolean(),
    "quality_score": F, "warnings": pl.List(pl.String()), "temperature_c_rolling_mean": F, "power_w_rolling_mean": F,
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(), "partition": pl.Int32(), "offset": pl.Int64(), "kafka_timestamp": TS, "key": pl.Binary(),
    "value": pl.Binary(), "ingested_at": TS, "failed_rules": pl.List(pl.String()), "event_id": pl.String(),
    "device_id": pl.String(), "quarantined_at": TS, "quarantine_date": pl.Date(),
}

TYPES = ["thermostat", "smart_plug", "smart_bulb", "security_camera", "motion_sensor", "environment_sensor",
         "energy_meter"]
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
        full.append({"event_id": row.get("event_id", f"e{i:06d}"), "home_id": home, "device_type": "smart_plug",
                     "schema_version": 1, "seq": i, "status": "online", "warnings": [], "home_name": HOMES.get(home, home),
                     "location": "kitchen", "manufacturer": "TP-Link", "model": "KP115",
                     "installation_date": date(2022, 1, 1), "device_age_days": 1000, "kafka_partition": 0,
                     "kafka_offset": i, "ingested_at": event_time, "processing_delay_s": 0.0, "is_late_event": False,
                     "quality_score": 1.0, **row, "event_time": event_time, "event_date": event_time.date()})
    return pl.DataFrame(full, schema=SILVER_SCHEMA)


def quarantine_rows(rows: list[tuple[str, list[str]]]) -> pl.DataFrame:
    """Quarantine rows from (quarantined_at, failed_rules) pairs."""
    full = [{"topic": "t", "partition": 0, "offset": i, "kafka_timestamp": ts(at), "key": None, "value": b"{}",
             "ingested_at": ts(at), "failed_rules": rules, "event_id": None, "device_id": None,
             "quarantined_at": ts(at), "quarantine_date": ts(at).date()} for i, (at, rules) in enumerate(rows)]
    return pl.DataFrame(full, schema=QUARANTINE_SCHEMA)


def write_silver(settings: Settings, frame: pl.DataFrame, *, version_marker: int = 0) -> None:
    """Append rows to silver/telemetry as silver does (partitioned by event_date, progress marker in the commit)."""
    delta_io.write(settings.table_path("silver", "telemetry"), frame.select(list(SILVER_SCHEMA)).cast(SILVER_SCHEMA),
                   partition_by=["event_date"], app_transactions={"silver:bronze": version_marker})


def write_quarantine(settings: Settings, frame: pl.DataFrame) -> None:
    """Append rows to silver/quarantine."""
    delta_io.write(settings.table_path("silver", "quarantine"), frame, partition_by=["quarantine_date"])


def gold(settings: Settings, table: str) -> pl.DataFrame:
    """A gold table, sorted by all its columns (comparable across runs)."""
    frame = delta_io.read(settings.table_path("gold", table))
    return frame.select(sorted(frame.columns)).sort(sorted(frame.columns), nulls_last=True)


def synthetic_silver(n: int, *, start: datetime, days: float, devices: int = 700, seed: int = 0,
                     first_id: int = 0) -> pl.DataFrame:
    """`n` silver rows spread evenly over `days` from `start` across `devices` devices (7 per home), vectorised."""
    rng = np.random.default_rng(seed)
    step_us = int(days * 86_400_000_000 / n)
    i = pl.int_range(first_id, first_id + n, eager=True, dtype=pl.Int64)
    device = i % devices
    power = rng.uniform(0.0, 1500.0, n).round(2)
    frame = pl.DataFrame({
        "i": i, "device": device, "power_w": power, "energy_wh": (power * 10 / 3600).round(4),
        "temperature_c": rng.normal(21.0, 3.0, n).round(2), "u": rng.uniform(0.0, 1.0, n),
    }).with_columns(
        event_id=pl.format("e{}", pl.col("i")), device_id=pl.format("dev_{}", pl.col("device").cast(pl.String).str.zfill(5)),
        home_id=pl.format("home_{}", (pl.col("device") // 7).cast(pl.String).str.zfill(4)),
        device_type=pl.lit(pl.Series(TYPES)).gather(pl.col("device") % 7),
        event_time=pl.lit(start, TS) + pl.duration(microseconds=(pl.col("i") - first_id) * step_us),
        status=pl.when(pl.col("u") < 0.01).then(pl.lit("error")).otherwise(pl.lit("online")),
        alert=pl.when(pl.col("u") > 0.995).then(pl.lit("high_power")),
        warnings=pl.when(pl.col("u").is_between(0.5, 0.51)).then(pl.lit(["stale_reading"]))
        .otherwise(pl.lit([], pl.List(pl.String))),
        seq=pl.col("i"), kafka_offset=pl.col("i"), schema_version=pl.lit(1),
    ).with_columns(event_date=pl.col("event_time").dt.date(), ingested_at=pl.col("event_time"),
                   home_name=pl.col("home_id"), location=pl.lit("kitchen"))
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in SILVER_SCHEMA.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(SILVER_SCHEMA)).cast(SILVER_SCHEMA)
