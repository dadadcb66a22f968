"""Replay of recorded readings from any CSV: a TOML mapping turns its rows into schema v1 events.

The mapping names the time column and its format, the device column (or one fixed device id) and which CSV
column feeds which metric with a unit scale factor; see config/replay/iot_env_telemetry.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from common.events import BOOL_METRICS, METRICS
from config.catalog import CATALOG_SCHEMA, device_types
from config.errors import ConfigError
from producer.identity import REPLAYED, event_ids
from producer.simulator import DeviceCursor, iso_ms

DEVICE_FIELDS = ("device_type", "home_id", "home_name", "latitude", "longitude", "location", "manufacturer", "model",
                 "installation_date")


@dataclass(frozen=True)
class ReplayConfig:
    """How a CSV's columns map to events."""

    time_column: str
    time_format: str
    device_column: str | None
    device_id: str | None
    device_ids: dict[str, str]
    device: dict[str, Any]
    metrics: dict[str, tuple[str, float]]


def load_config(path: Path) -> ReplayConfig:
    """Read and check a replay mapping (TOML)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        time, device = raw["time"], dict(raw["device"])
        metrics = {m: (spec["column"], float(spec.get("scale", 1.0))) for m, spec in raw["metrics"].items()}
        ids = dict(device.pop("ids", {}))
        config = ReplayConfig(time["column"], time.get("format", "iso"), device.pop("column", None),
                              device.pop("id", None), ids, device, metrics)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"replay config {path} is not valid ({type(exc).__name__}: {exc})") from None
    if (config.device_column is None) == (config.device_id is None):
        raise ConfigError(f"replay config {path}: set exactly one of device.column and device.id")
    missing = [f for f in DEVICE_FIELDS if f not in config.device]
    device_type = device_types().get(str(config.device.get("device_type")))
    if missing or device_type is None:
        raise ConfigError(f"replay config {path}: device needs {', '.join(DEVICE_FIELDS)} with a known device_type")
    if unknown := set(config.metrics) - set(device_type.metrics):
        raise ConfigError(f"replay config {path}: {device_type.name} does not measure {sorted(unknown)}")
    return config


def _time_ms(column: pl.Expr, fmt: str) -> pl.Expr:
    if fmt == "epoch_s":
        return (column.cast(pl.Float64) * 1000).floor().cast(pl.Int64)  # truncate: never moves a row to the next day
    if fmt == "epoch_ms":
        return column.cast(pl.Int64)
    parsed = column.str.to_datetime(time_zone="UTC") if fmt == "iso" else column.str.to_datetime(fmt, time_zone="UTC")
    return parsed.dt.epoch("ms")


def readings(csv: Path, config: ReplayConfig) -> pl.DataFrame:
    """The CSV's rows as readings: device_id, ts_ms and the mapped metrics, in time order (stable)."""
    columns = {config.time_column, *(c for c, _ in config.metrics.values())}
    if config.device_column:
        columns.add(config.device_column)
    try:
        raw = pl.read_csv(csv, columns=sorted(columns), infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"replay file {csv} cannot be read with its mapping ({exc})") from None
    device = (pl.col(config.device_column).cast(pl.String).replace(config.device_ids) if config.device_column
              else pl.lit(config.device_id))
    metrics = [(pl.col(c).cast(pl.Boolean) if m in BOOL_METRICS else pl.col(c).cast(pl.Float64) * scale).alias(m)
               for m, (c, scale) in config.metrics.items()]
    return raw.select(device.alias("device_id"), _time_ms(pl.col(config.time_column), config.time_format).alias("ts_ms"),
                      *metrics).sort("ts_ms", maintain_order=True)


def devices(frame: pl.DataFrame, config: ReplayConfig) -> pl.DataFrame:
    """The replayed devices in CATALOG_SCHEMA, for the device registry."""
    spec = {**config.device, "installation_date": date.fromisoformat(str(config.device["installation_date"]))}
    ids = frame["device_id"].unique().sort()
    return pl.DataFrame({"device_id": ids}).with_columns(
        *[pl.lit(spec[f]).alias(f) for f in DEVICE_FIELDS]).select(list(CATALOG_SCHEMA)).cast(CATALOG_SCHEMA)


def to_events(frame: pl.DataFrame, config: ReplayConfig, device_ids: list[str], cursor: DeviceCursor) -> pl.DataFrame:
    """Readings → events (HEADER + METRICS + ts_ms) with per-device seq continuing `cursor`, which is advanced."""
    index = {d: i for i, d in enumerate(device_ids)}
    dev = frame["device_id"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    rank = frame.select(pl.int_range(pl.len()).over("device_id"))[:, 0].to_numpy()
    seq = cursor.seq[dev] + rank
    np.add.at(cursor.seq, dev, 1)
    last = frame.group_by("device_id").agg(pl.col("ts_ms").max())
    cursor.last_ms[last["device_id"].replace_strict(index, return_dtype=pl.Int64).to_numpy()] = last["ts_ms"].to_numpy()
    present = [pl.col(m) if m in frame.columns else pl.lit(None, pl.Boolean if m in BOOL_METRICS else pl.Float64).alias(m)
               for m in METRICS if m != "energy_wh"]
    energy = _energy_wh(frame) if "power_w" in frame.columns else pl.Series([None] * frame.height, dtype=pl.Float64)
    return frame.select(
        pl.lit(1, pl.Int32).alias("schema_version"), event_ids(frame["device_id"], frame["ts_ms"].to_numpy(), namespace=REPLAYED),
        "device_id", pl.lit(config.device["home_id"]).alias("home_id"),
        pl.lit(config.device["device_type"]).alias("device_type"), pl.Series("seq", seq, dtype=pl.Int64),
        iso_ms(frame["ts_ms"].to_numpy()).alias("timestamp"), pl.lit("online").alias("status"),
        pl.lit(None, pl.String).alias("alert"), *present, energy.alias("energy_wh"), "ts_ms")


def _energy_wh(frame: pl.DataFrame) -> pl.Series:
    """power_w × milliseconds since the device's previous row / 3,600,000 (0 for its first row)."""
    dt_ms = frame.select(pl.col("ts_ms") - pl.col("ts_ms").shift(1).over("device_id"))[:, 0].fill_null(0).to_numpy()
    return pl.Series(frame["power_w"].to_numpy() * dt_ms / 3_600_000, dtype=pl.Float64)
