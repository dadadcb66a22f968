"""Replay of recorded readings from any CSV: a TOML mapping (producer/replay_config.py) turns its rows into events.

    readings(csv, config) → devices(readings) → to_events(readings, device_ids, cursor)

One mapping replays a whole multi-device file: device id, type, home and location come from columns per row,
metrics map per device type. Energy is the recorded column when one is mapped (per interval, or the
differences of a cumulative meter, 0 where it restarts), else integrated from power by the simulator's rule
(`common.events.energy_wh`, per device in time order, 0 after a gap). event_id = (device, event time).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from common.events import ALERTS, BOOL_METRICS, METRICS, SCHEMA_VERSION, STATUSES, energy_wh
from config.catalog import CATALOG_SCHEMA, device_types
from config.errors import ConfigError
from producer.identity import REPLAYED, event_ids
from producer.replay_config import DEVICE_FIELDS, MetricMap, ReplayConfig, Source, load_config
from producer.replay_read import LINE, booleans, fail, labels, numbers, read_text, times_ms
from producer.simulator import DeviceCursor, iso_ms

__all__ = ["devices", "load_config", "readings", "to_events"]

logger = logging.getLogger(__name__)

NUMBER_FIELDS = ("latitude", "longitude")


def readings(csv: Path, config: ReplayConfig) -> pl.DataFrame:
    """The CSV's rows as readings: device_id, DEVICE_FIELDS, ts_ms, status, alert, METRICS (energy_wh final) and
    LINE, in time order (ties in file order)."""
    text = read_text(csv, config)
    device_id = _column_or_value(csv, text, config.device_id, what="a device id", required=True)
    types = _column_or_value(
        csv, text, config.fields["device_type"], what="a device type", required=True, allowed=tuple(device_types())
    )
    fields = {name: _field(csv, text, name, source) for name, source in config.fields.items() if name != "device_type"}
    status = _column_or_value(csv, text, config.status, what="a status", allowed=STATUSES)
    status = status.fill_null(config.status.value)
    alert = _column_or_value(csv, text, config.alert, what="an alert", allowed=ALERTS)
    frame = pl.DataFrame(
        [
            device_id.alias("device_id"),
            types.alias("device_type"),
            *fields.values(),
            times_ms(csv, text, config, device_id).alias("ts_ms"),
            status.alias("status"),
            alert.alias("alert"),
            *_metrics(csv, text, config, types),
            text[LINE],
        ]
    )
    frame = frame.sort("ts_ms", maintain_order=True)
    _one_type_and_home(csv, frame)
    _warn_if_meter_like(csv, frame, config)
    return frame.with_columns(_energy(frame, config).alias("energy_wh"))


def _column_or_value(
    csv: Path,
    text: pl.DataFrame,
    source: Source,
    *,
    what: str,
    required: bool = False,
    allowed: tuple[str, ...] | None = None,
) -> pl.Series:
    if source.column is None:
        return pl.repeat(source.value, text.height, dtype=pl.String, eager=True)
    mapped = labels(csv, text, source.column, source.values, allowed, what=what)
    if required:
        fail(csv, text, mapped.is_null(), source.column, f"{what} (it is missing)")
    return mapped


def _field(csv: Path, text: pl.DataFrame, name: str, source: Source) -> pl.Series:
    """A descriptive device field: text, a number (latitude, longitude) or a date (installation_date)."""
    if name in NUMBER_FIELDS:
        if source.column is None:
            return pl.repeat(source.value, text.height, dtype=pl.Float64, eager=True).alias(name)
        mapped = text.with_columns(labels(csv, text, source.column, source.values, None, what=name))
        return numbers(csv, mapped, source.column, pl.Series([True] * text.height), decimal_comma=False).alias(name)
    if name == "installation_date":
        if source.column is None:
            return pl.repeat(source.value, text.height, dtype=pl.Date, eager=True).alias(name)
        days = text[source.column].str.to_date("%Y-%m-%d", strict=False)
        fail(csv, text, text[source.column].is_not_null() & days.is_null(), source.column, "a date as YYYY-MM-DD")
        return days.alias(name)
    return _column_or_value(csv, text, source, what=name).alias(name)


def _metrics(csv: Path, text: pl.DataFrame, config: ReplayConfig, types: pl.Series) -> list[pl.Series]:
    """Every metric, from the mapping of each row's device type (null where its type has none)."""
    columns = []
    for metric in METRICS:
        dtype = pl.Boolean if metric in BOOL_METRICS else pl.Float64
        value = pl.lit(None, dtype)
        for device_type, maps in config.metrics.items():
            if metric in maps:
                applies = types == device_type
                mapped = _values(csv, text, metric, maps[metric], applies, config)
                value = pl.when(applies).then(mapped).otherwise(value)
        columns.append(text.with_columns(value.alias(metric))[metric])
    return columns


def _values(
    csv: Path, text: pl.DataFrame, metric: str, spec: MetricMap, applies: pl.Series, config: ReplayConfig
) -> pl.Series:
    if metric in BOOL_METRICS:
        return booleans(csv, text, spec.column, applies)
    return numbers(csv, text, spec.column, applies, decimal_comma=config.decimal_comma) * spec.scale + spec.offset


def _one_type_and_home(csv: Path, frame: pl.DataFrame) -> None:
    """A device keeps one type and one home through the file (silver checks events against one catalog entry)."""
    for name in ("device_type", "home_id"):
        changed = frame.select(pl.col(name).ne_missing(pl.col(name).first().over("device_id")))[:, 0]
        if changed.any():
            row = frame.filter(changed).row(0, named=True)
            raise ConfigError(
                f"replay file {csv}, line {row[LINE]}: device {row['device_id']!r} has {name} "
                f"{row[name]!r} here but another earlier; expected one {name} per device"
            )


def _energy(frame: pl.DataFrame, config: ReplayConfig) -> pl.Series:
    """energy_wh per row by its device type's mapping: recorded (interval or cumulative) or integrated from power.

    Both the meter difference and the integration count from the device's last reading at an earlier time, so
    a row repeated in the file carries the same energy as its first copy (and stays a duplicate downstream).
    """
    kinds = {
        t: maps["energy_wh"].kind if "energy_wh" in maps else "integrated" if "power_w" in maps else None
        for t, maps in config.metrics.items()
        if "energy_wh" in device_types()[t].metrics
    }
    kind = frame["device_type"].replace_strict(kinds, default=None, return_dtype=pl.String)
    ts, new_time = pl.col("ts_ms"), pl.col("ts_ms") != pl.col("ts_ms").shift(1)
    earlier = frame.select(
        pl.when(new_time).then(ts.shift(1)).forward_fill().over("device_id").alias("ts"),
        pl.when(new_time)
        .then(pl.col("energy_wh").forward_fill().shift(1))
        .forward_fill()
        .over("device_id")
        .alias("meter"),
    )
    step = pl.col("energy_wh") - earlier["meter"]
    cumulative = pl.when(earlier["meter"].is_null() | (step < 0)).then(pl.lit(0.0)).otherwise(step)
    dt_ms = (frame["ts_ms"] - earlier["ts"]).fill_null(-1)
    integrated = pl.Series(energy_wh(frame["power_w"].fill_null(np.nan).to_numpy(), dt_ms.to_numpy()), nan_to_null=True)
    return frame.select(
        pl.when(kind == "interval")
        .then(pl.col("energy_wh"))
        .when(kind == "cumulative")
        .then(pl.when(pl.col("energy_wh").is_not_null()).then(cumulative))
        .when(kind == "integrated")
        .then(pl.when(pl.col("power_w").is_not_null()).then(integrated))
    ).to_series()


def _warn_if_meter_like(csv: Path, frame: pl.DataFrame, config: ReplayConfig) -> None:
    """Log a warning for a device whose per-interval energy rises from nearly every reading to the next: probably
    a cumulative meter mapped without kind = "cumulative" (silver would quarantine its large values)."""
    interval = [t for t, maps in config.metrics.items() if "energy_wh" in maps and maps["energy_wh"].kind == "interval"]
    values = pl.col("energy_wh").drop_nulls()
    suspects = (
        frame.filter(pl.col("device_type").is_in(interval))
        .group_by("device_id")
        .agg(values.len().alias("n"), (values.diff() > 0).mean().alias("rising"))
        .filter((pl.col("n") >= 20) & (pl.col("rising") > 0.9))
    )
    for device_id in suspects["device_id"].sort():
        logger.warning(
            'replay %s: the energy of %s only ever rises: a cumulative meter? then map it with kind = "cumulative"',
            csv,
            device_id,
        )


def devices(frame: pl.DataFrame) -> pl.DataFrame:
    """The replayed devices in CATALOG_SCHEMA, for the device registry: each field's latest value; an unknown
    installation date is the date of the device's first reading."""
    first_day = pl.from_epoch(pl.col("ts_ms").min(), time_unit="ms").dt.date()
    present = [name for name in DEVICE_FIELDS if name in frame.columns and name != "installation_date"]
    installed = (
        pl.col("installation_date").drop_nulls().last()
        if "installation_date" in frame.columns
        else pl.lit(None, pl.Date)
    )
    return (
        frame.group_by("device_id")
        .agg(
            *[pl.col(name).drop_nulls().last() for name in present],
            pl.coalesce(installed, first_day).alias("installation_date"),
        )
        .with_columns(
            pl.lit(None, dtype).alias(name)
            for name, dtype in CATALOG_SCHEMA.items()
            if name not in {*present, "device_id", "installation_date"}
        )
        .select(list(CATALOG_SCHEMA))
        .cast(CATALOG_SCHEMA)
        .sort("device_id")
    )


def to_events(frame: pl.DataFrame, device_ids: list[str], cursor: DeviceCursor) -> pl.DataFrame:
    """Readings → events (HEADER + METRICS + ts_ms) with per-device seq continuing `cursor`, which is advanced."""
    index = {d: i for i, d in enumerate(device_ids)}
    dev = frame["device_id"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    rank = frame.select(pl.int_range(pl.len()).over("device_id"))[:, 0].to_numpy()
    seq = cursor.seq[dev] + rank
    np.add.at(cursor.seq, dev, 1)
    last = frame.group_by("device_id").agg(pl.col("ts_ms").max())
    cursor.last_ms[last["device_id"].replace_strict(index, return_dtype=pl.Int64).to_numpy()] = last["ts_ms"].to_numpy()
    return frame.select(
        pl.lit(SCHEMA_VERSION, pl.Int32).alias("schema_version"),
        event_ids(frame["device_id"], frame["ts_ms"].to_numpy(), namespace=REPLAYED),
        "device_id",
        "home_id",
        "device_type",
        pl.Series("seq", seq, dtype=pl.Int64),
        iso_ms(frame["ts_ms"].to_numpy()).alias("timestamp"),
        "status",
        "alert",
        *METRICS,
        "ts_ms",
    )
