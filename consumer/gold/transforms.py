"""Gold from silver rows, as pure polars functions: the hourly partials, minute rows and alerts.

The daily tables roll up the hourly partials (consumer/gold_rollups.py); device health too (consumer/gold_health.py).
Recomputing an hour needs only that hour's silver rows, so a run after a few seconds of new events stays cheap.
Energy is summed exactly: every reading's energy_wh is quantised to an integer number of µWh (lossless for the
at most 6 decimals silver carries) and summed as int64, so any grouping (minute, device-day, home-month) adds up
to the same total in any order; kWh = µWh / 10^9 is then one correctly rounded float64 division.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from config.settings import Settings
from lake import tables

UWH_PER_WH = 1_000_000
UWH_PER_KWH = 1_000_000_000

SEVERITY = {"high_temperature": "critical", "high_power": "critical", "low_temperature": "warning",
            "low_battery": "warning", "connectivity_issue": "warning", "maintenance_required": "info",
            "temperature_anomaly": "warning", "power_anomaly": "warning"}

@dataclass(frozen=True, kw_only=True)
class GoldParams:
    """The settings the gold transforms depend on."""

    tariff_per_kwh: float = 0.30
    base_charge: float = 9.90
    currency: str = "EUR"
    temp_high_c: float = 30.0
    temp_low_c: float = 10.0
    power_high_w: float = 2000.0
    z_score: float = 3.0
    offline_after_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GoldParams:
        return cls(tariff_per_kwh=settings.tariff_per_kwh, base_charge=settings.billing_base_charge,
                   currency=settings.currency, temp_high_c=settings.alert_temp_high_c,
                   temp_low_c=settings.alert_temp_low_c, power_high_w=settings.alert_power_high_w,
                   z_score=settings.anomaly_z_score, offline_after_s=settings.offline_after_s)


def micro_wh(column: str = "energy_wh") -> pl.Expr:
    """energy_wh as an integer number of µWh (null counts as 0)."""
    return (pl.col(column).fill_null(0.0) * UWH_PER_WH).round().cast(pl.Int64)


def is_alert(params: GoldParams) -> pl.Expr:
    """An event that raised an alert: flagged by the device or beyond a configured threshold."""
    return (pl.col("alert").is_not_null() | (pl.col("temperature_c") > params.temp_high_c)
            | (pl.col("temperature_c") < params.temp_low_c) | (pl.col("power_w") > params.power_high_w)).fill_null(False)


def z_bound(metric: str, sign: int, params: GoldParams, group: list[str]) -> pl.Expr:
    """mean ± z·std of `metric` over `group` (the device's own history): beyond it a reading is an anomaly."""
    return pl.col(metric).mean().over(group) + sign * params.z_score * pl.col(metric).std().over(group)


def is_anomaly(params: GoldParams, group: list[str]) -> pl.Expr:
    """A reading whose temperature or power lies more than z standard deviations from its device-hour's mean."""
    flags = [(pl.col(m) > z_bound(m, 1, params, group)) | (pl.col(m) < z_bound(m, -1, params, group))
             for m in ("temperature_c", "power_w")]
    return (flags[0].fill_null(False) | flags[1].fill_null(False))


def device_hourly(silver: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per device × hour: the additive partials (sums, counts, extremes) the daily tables and health roll up."""
    schema = tables.DEVICE_HOURLY.schema
    rows = silver.lazy().with_columns(hour=pl.col("event_time").dt.truncate("1h"))
    return (
        rows.with_columns(uwh=micro_wh(), alerted=is_alert(params), anomalous=is_anomaly(params, ["device_id", "hour"]),
                          warned=pl.col("warnings").list.len().fill_null(0) > 0,
                          online_minute=pl.when(pl.col("status") == "online").then(pl.col("event_time").dt.truncate("1m")))
        .group_by("device_id", "hour")
        .agg(energy_uwh=pl.col("uwh").sum(), readings=pl.len(), power_sum=pl.col("power_w").sum(),
             power_n=pl.col("power_w").count(), power_max=pl.col("power_w").max(),
             temperature_sum=pl.col("temperature_c").sum(), temperature_n=pl.col("temperature_c").count(),
             temperature_min=pl.col("temperature_c").min(), temperature_max=pl.col("temperature_c").max(),
             online_minutes=pl.col("online_minute").drop_nulls().n_unique(), alerts=pl.col("alerted").sum(),
             anomalies=pl.col("anomalous").sum(), warned=pl.col("warned").sum(),
             errors=(pl.col("status") == "error").sum(), first_seen=pl.col("event_time").min(),
             last_seen=pl.col("event_time").max())
        .join(device_attributes(rows, ("home_id", "home_name", "device_type", "location")), on="device_id")
        .with_columns(date=pl.col("hour").dt.date())
        .select(list(schema)).cast(schema).sort("hour", "device_id").collect()
    )


def quality_hourly(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per hour × warn rule: the silver rows the rule flagged."""
    schema = tables.QUALITY_HOURLY.schema
    return (silver.lazy().filter(pl.col("warnings").list.len() > 0)
            .select(date=pl.col("event_date"), hour=pl.col("event_time").dt.truncate("1h"), rule=pl.col("warnings"))
            .explode("rule").drop_nulls("rule").group_by("date", "hour", "rule").agg(rows=pl.len())
            .select(list(schema)).cast(schema).sort("date", "hour", "rule").collect())


def device_attributes(silver: pl.LazyFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
    """One row per device: its latest descriptive columns (joined after grouping on numbers only, which is faster)."""
    return silver.group_by("device_id").agg(pl.col(list(columns)).sort_by("event_time").last())


def telemetry_1min(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per minute × device: average temperature and power, energy (Wh) and readings."""
    schema = tables.TELEMETRY_1MIN.schema
    rows = silver.lazy()
    return (rows.group_by("device_id", minute=pl.col("event_time").dt.truncate("1m"))
            .agg(avg_temperature_c=pl.col("temperature_c").mean(), avg_power_w=pl.col("power_w").mean(),
                 energy_wh=micro_wh().sum() / UWH_PER_WH, readings=pl.len())
            .join(device_attributes(rows, ("home_id", "device_type")), on="device_id")
            .with_columns(date=pl.col("minute").dt.date(), hour=pl.col("minute").dt.hour())
            .select(list(schema)).cast(schema).sort("minute").collect())


def alerts(silver: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per alert (device-flagged or threshold breach) or anomaly of an event, by kind."""
    group = ["device_id", "hour"]
    t, p = pl.col("temperature_c"), pl.col("power_w")
    checks = [  # kind, fired, value, threshold
        ("high_temperature", (pl.col("alert") == "high_temperature") | (t > params.temp_high_c), t, pl.lit(params.temp_high_c)),
        ("low_temperature", (pl.col("alert") == "low_temperature") | (t < params.temp_low_c), t, pl.lit(params.temp_low_c)),
        ("high_power", (pl.col("alert") == "high_power") | (p > params.power_high_w), p, pl.lit(params.power_high_w)),
        ("low_battery", pl.col("alert") == "low_battery", pl.col("battery_pct"), pl.lit(None, pl.Float64)),
        ("connectivity_issue", pl.col("alert") == "connectivity_issue", pl.lit(None, pl.Float64), pl.lit(None, pl.Float64)),
        ("maintenance_required", pl.col("alert") == "maintenance_required", pl.lit(None, pl.Float64), pl.lit(None, pl.Float64)),
    ]
    for metric, kind in (("temperature_c", "temperature_anomaly"), ("power_w", "power_anomaly")):
        hi, lo = pl.col(f"{metric}_hi"), pl.col(f"{metric}_lo")
        checks.append((kind, (pl.col(metric) > hi) | (pl.col(metric) < lo), pl.col(metric),
                       pl.when(pl.col(metric) > hi).then(hi).otherwise(lo)))
    base = silver.lazy().with_columns(hour=pl.col("event_time").dt.truncate("1h")).with_columns(
        **{f"{m}_{side}": z_bound(m, sign, params, group) for m in ("temperature_c", "power_w")
           for side, sign in (("hi", 1), ("lo", -1))})
    rows = [base.filter(fired.fill_null(False)).select(
        alert_time=pl.col("event_time"), date=pl.col("event_date"), home_id=pl.col("home_id"),
        device_id=pl.col("device_id"), device_type=pl.col("device_type"), kind=pl.lit(kind), value=value.cast(pl.Float64),
        threshold=threshold.cast(pl.Float64), severity=pl.lit(SEVERITY[kind]), event_id=pl.col("event_id"))
        for kind, fired, value, threshold in checks]
    schema = tables.ALERTS.schema
    return pl.concat(rows).select(list(schema)).cast(schema).sort("alert_time", "device_id", "kind").collect()
