"""Gold from silver rows, as pure polars functions: the hourly partials, minute rows and alerts.

The daily tables roll up the hourly partials (rollups.py); device health too (health.py). Alert limits and anomaly
floors are per device type (config/alert_rules.py over config/device_types.toml).
Recomputing an hour needs that hour's silver rows and the hour before (anomaly baselines), so a run after a few
seconds of new events stays cheap.
Energy is summed exactly: every reading's energy_wh is quantised to an integer number of µWh (lossless for the
at most 6 decimals silver carries) and summed as int64, so any grouping (minute, device-day, home-month) adds up
to the same total in any order; kWh = µWh / 10^9 is then one correctly rounded float64 division.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from config.alert_rules import (
    ANOMALY_KINDS,
    Check,
    is_alerted,
    limits_frame,
    min_deviation,
    threshold_checks,
    with_limits,
)
from config.catalog import ANOMALY_METRICS
from config.settings import Settings
from lake import tables

UWH_PER_WH = 1_000_000
UWH_PER_KWH = 1_000_000_000

ANOMALY_MIN_BASELINE = 10  # values of the metric the device's previous hour must hold for a verdict
IQR_PER_SIGMA = 1.349  # a normal distribution's interquartile range in standard deviations


@dataclass(frozen=True, kw_only=True)
class GoldParams:
    """The settings the gold transforms depend on (alert limits are per device type: config/device_types.toml)."""

    tariff_per_kwh: float = 0.30
    base_charge: float = 9.90
    currency: str = "EUR"
    z_score: float = 3.0
    offline_after_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GoldParams:
        return cls(
            tariff_per_kwh=settings.tariff_per_kwh,
            base_charge=settings.billing_base_charge,
            currency=settings.currency,
            z_score=settings.anomaly_z_score,
            offline_after_s=settings.offline_after_s,
        )


def micro_wh(column: str = "energy_wh") -> pl.Expr:
    """energy_wh as an integer number of µWh (null counts as 0)."""
    return (pl.col(column).fill_null(0.0) * UWH_PER_WH).round().cast(pl.Int64)


def bands(readings: pl.LazyFrame, params: GoldParams) -> pl.LazyFrame:
    """Per device and hour judged: the anomaly band of each metric from the device's previous hour (`anomaly_band`),
    computed on the small per-hour frame, keyed by the hour it judges."""
    stats = [pl.col("device_type").max()]
    for metric in ANOMALY_METRICS:
        value = pl.col(metric)
        spread = value.quantile(0.75, "linear") - value.quantile(0.25, "linear")
        stats += [
            value.median().alias(f"{metric}_median"),
            (spread / IQR_PER_SIGMA).alias(f"{metric}_sigma"),
            value.count().alias(f"{metric}_n"),
        ]
    floors = [min_deviation(metric) for metric in ANOMALY_METRICS]
    return (
        readings.group_by("device_id", "hour")
        .agg(stats)
        .join(limits_frame().lazy().select("device_type", *floors), on="device_type", how="left")
        .select(
            "device_id",
            hour=pl.col("hour") + pl.duration(hours=1),
            **{k: e for m in ANOMALY_METRICS for k, e in anomaly_band(m, params).items()},
        )
    )


def anomaly_band(metric: str, params: GoldParams) -> dict[str, pl.Expr]:
    """`<metric>_lo` / `_hi`: median ± max(z · σ, the type's minimum deviation) of an hour's values, where σ is the
    robust standard deviation IQR / 1.349.

    Null (never an anomaly) when the hour holds fewer than ANOMALY_MIN_BASELINE values of the metric or the type
    declares no minimum deviation for it.
    """
    floor, median = pl.col(min_deviation(metric)), pl.col(f"{metric}_median")
    enough = (pl.col(f"{metric}_n") >= ANOMALY_MIN_BASELINE) & floor.is_not_null()
    half = pl.when(enough).then(pl.max_horizontal(params.z_score * pl.col(f"{metric}_sigma"), floor))
    return {f"{metric}_lo": median - half, f"{metric}_hi": median + half}


def is_anomalous(metric: str) -> pl.Expr:
    """The reading's `metric` lies outside its band (never null)."""
    value = pl.col(metric)
    return ((value > pl.col(f"{metric}_hi")) | (value < pl.col(f"{metric}_lo"))).fill_null(False)


def assess(silver: pl.DataFrame, params: GoldParams, *, hours: list[datetime] | None = None) -> pl.DataFrame:
    """Readings of `hours` (every hour when None) with `hour`, their type's limits, anomaly bands and the flags
    `alerted` (a threshold alert or the device's own) and `anomalous`.

    A reading is judged against its device's previous clock hour: `silver` must also hold the hour before each of
    `hours`. The result depends only on the rows' values, not on their order or on which other hours were read.
    """
    readings = silver.lazy().with_columns(hour=pl.col("event_time").dt.truncate("1h"))
    judged = readings if hours is None else readings.filter(pl.col("hour").is_in(hours))
    return (
        with_limits(judged)
        .join(bands(_baselines(silver, readings, hours), params), on=["device_id", "hour"], how="left")
        .with_columns(
            alerted=is_alerted().fill_null(False),
            anomalous=pl.any_horizontal(*(is_anomalous(m) for m in ANOMALY_METRICS)),
        )
        .collect(engine="in-memory")
    )  # ~30 % less CPU than streaming here: two joins on one shared input


def _baselines(silver: pl.DataFrame, readings: pl.LazyFrame, hours: list[datetime] | None) -> pl.LazyFrame:
    """The readings whose bands judge a reading: those of the hour before each of `hours` that holds readings.

    An incremental run judges the current hour and the next (still empty): the current hour's own band, a median and
    quantiles over its every reading, would judge nothing, so it is not computed."""
    if hours is None:
        return readings
    present = silver.select(pl.col("event_time").dt.truncate("1h").unique()).to_series()
    before = [hour - timedelta(hours=1) for hour in present.filter(present.is_in(hours))]
    return readings.filter(pl.col("hour").is_in(before))


def device_hourly(readings: pl.DataFrame) -> pl.DataFrame:
    """One row per device × hour of assessed readings (`assess`): the additive partials the daily tables and health
    roll up."""
    schema = tables.DEVICE_HOURLY.schema
    rows = readings.lazy()
    online = pl.col("status") == "online"
    return (
        rows.with_columns(
            uwh=micro_wh(),
            warned=pl.col("warnings").list.len().fill_null(0) > 0,
            online_minute=pl.when(online).then(pl.col("event_time").dt.truncate("1m")),
        )
        .group_by("device_id", "hour")
        .agg(
            energy_uwh=pl.col("uwh").sum(),
            readings=pl.len(),
            power_sum=pl.col("power_w").sum(),
            power_n=pl.col("power_w").count(),
            power_max=pl.col("power_w").max(),
            temperature_sum=pl.col("temperature_c").sum(),
            temperature_n=pl.col("temperature_c").count(),
            temperature_min=pl.col("temperature_c").min(),
            temperature_max=pl.col("temperature_c").max(),
            online_minutes=pl.col("online_minute").drop_nulls().n_unique(),
            alerts=pl.col("alerted").sum(),
            anomalies=pl.col("anomalous").sum(),
            warned=pl.col("warned").sum(),
            errors=(pl.col("status") == "error").sum(),
            first_seen=pl.col("event_time").min(),
            last_seen=pl.col("event_time").max(),
            last_online=pl.col("event_time").filter(online).max(),
        )
        .join(device_attributes(rows, ("home_id", "home_name", "device_type", "location")), on="device_id")
        .with_columns(date=pl.col("hour").dt.date())
        .select(list(schema))
        .cast(schema)
        .sort("hour", "device_id")
        .collect()
    )


def quality_hourly(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per hour × warn rule: the silver rows the rule flagged."""
    schema = tables.QUALITY_HOURLY.schema
    return (
        silver.lazy()
        .filter(pl.col("warnings").list.len() > 0)
        .select(date=pl.col("event_date"), hour=pl.col("event_time").dt.truncate("1h"), rule=pl.col("warnings"))
        .explode("rule")
        .drop_nulls("rule")
        .group_by("date", "hour", "rule")
        .agg(rows=pl.len())
        .select(list(schema))
        .cast(schema)
        .sort("date", "hour", "rule")
        .collect()
    )


def device_attributes(silver: pl.LazyFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
    """One row per device: its latest descriptive columns (joined after grouping on numbers only, which is faster)."""
    return silver.group_by("device_id").agg(pl.col(list(columns)).sort_by("event_time").last())


def telemetry_1min(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per minute × device: average temperature and power, energy (Wh) and readings."""
    schema = tables.TELEMETRY_1MIN.schema
    rows = silver.lazy()
    return (
        rows.group_by("device_id", minute=pl.col("event_time").dt.truncate("1m"))
        .agg(
            avg_temperature_c=pl.col("temperature_c").mean(),
            avg_power_w=pl.col("power_w").mean(),
            energy_wh=micro_wh().sum() / UWH_PER_WH,
            readings=pl.len(),
        )
        .join(device_attributes(rows, ("home_id", "device_type")), on="device_id")
        .with_columns(date=pl.col("minute").dt.date(), hour=pl.col("minute").dt.hour())
        .select(list(schema))
        .cast(schema)
        .sort("minute")
        .collect()
    )


def alerts(readings: pl.DataFrame) -> pl.DataFrame:
    """One row per alert kind fired by an assessed reading (`assess`): threshold alerts and anomalies."""
    checks = threshold_checks()
    for metric, kind in ANOMALY_KINDS.items():
        value, hi, lo = pl.col(metric), pl.col(f"{metric}_hi"), pl.col(f"{metric}_lo")
        checks.append(Check(kind, is_anomalous(metric), value, pl.when(value > hi).then(hi).otherwise(lo)))
    rows = [
        readings.lazy()
        .filter(check.fired.fill_null(False))
        .select(
            alert_time=pl.col("event_time"),
            date=pl.col("event_time").dt.date(),
            home_id=pl.col("home_id"),
            device_id=pl.col("device_id"),
            device_type=pl.col("device_type"),
            kind=pl.lit(check.kind),
            value=check.value.cast(pl.Float64),
            threshold=check.threshold.cast(pl.Float64),
            severity=pl.lit(check.severity),
            event_id=pl.col("event_id"),
        )
        for check in checks
    ]
    schema = tables.ALERTS.schema
    return (
        pl.concat(rows).select(list(schema)).cast(schema).sort("alert_time", "device_id", "kind", "event_id").collect()
    )
