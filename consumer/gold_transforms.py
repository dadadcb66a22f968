"""Gold tables as pure polars functions: silver rows in, business rows out (device health: consumer/gold_health.py).

Energy is summed exactly: every reading's energy_wh is quantised to an integer number of µWh (lossless for the
at most 6 decimals silver carries) and summed as int64, so any grouping (minute, device-day, home-month) adds up
to the same total in any order; kWh = µWh / 10^9 is then one correctly rounded float64 division.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from config.settings import Settings

UTC_TS = pl.Datetime("us", "UTC")
UWH_PER_WH = 1_000_000
UWH_PER_KWH = 1_000_000_000

SEVERITY = {"high_temperature": "critical", "high_power": "critical", "low_temperature": "warning",
            "low_battery": "warning", "connectivity_issue": "warning", "maintenance_required": "info",
            "temperature_anomaly": "warning", "power_anomaly": "warning"}

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "daily_energy_consumption": {
        "date": pl.Date(), "home_id": pl.String(), "device_id": pl.String(), "device_type": pl.String(),
        "energy_kwh": pl.Float64(), "cost": pl.Float64(), "avg_power_w": pl.Float64(), "max_power_w": pl.Float64(),
        "avg_temperature_c": pl.Float64(), "min_temperature_c": pl.Float64(), "max_temperature_c": pl.Float64(),
        "readings": pl.Int64(), "uptime_pct": pl.Float64(), "alert_count": pl.Int64()},
    "daily_business_summary": {
        "date": pl.Date(), "total_energy_kwh": pl.Float64(), "total_cost": pl.Float64(), "active_devices": pl.Int64(),
        "avg_health_score": pl.Float64(), "alerts": pl.Int64(), "events": pl.Int64(), "quarantined_events": pl.Int64()},
    "daily_home_summary": {
        "date": pl.Date(), "home_id": pl.String(), "home_name": pl.String(), "total_energy_kwh": pl.Float64(),
        "total_cost": pl.Float64(), "active_devices": pl.Int64(), "avg_health_score": pl.Float64(),
        "alerts": pl.Int64(), "events": pl.Int64()},
    "telemetry_1min": {
        "minute": UTC_TS, "date": pl.Date(), "home_id": pl.String(), "device_id": pl.String(),
        "device_type": pl.String(), "avg_temperature_c": pl.Float64(), "avg_power_w": pl.Float64(),
        "energy_wh": pl.Float64(), "readings": pl.Int64()},
    "alerts": {
        "alert_time": UTC_TS, "date": pl.Date(), "home_id": pl.String(), "device_id": pl.String(),
        "device_type": pl.String(), "kind": pl.String(), "value": pl.Float64(), "threshold": pl.Float64(),
        "severity": pl.String(), "event_id": pl.String()},
    "monthly_billing": {
        "month": pl.Date(), "home_id": pl.String(), "energy_kwh": pl.Float64(), "rate_per_kwh": pl.Float64(),
        "energy_cost": pl.Float64(), "base_charge": pl.Float64(), "total": pl.Float64(), "currency": pl.String()},
    "data_quality_daily": {"date": pl.Date(), "rule": pl.String(), "action": pl.String(), "rows": pl.Int64()},
}


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
    """A reading whose temperature or power lies more than z standard deviations from its group's mean."""
    flags = [(pl.col(m) > z_bound(m, 1, params, group)) | (pl.col(m) < z_bound(m, -1, params, group))
             for m in ("temperature_c", "power_w")]
    return (flags[0].fill_null(False) | flags[1].fill_null(False))


def health_score(uptime_pct: pl.Expr, alert_rate: pl.Expr, anomaly_rate: pl.Expr, quality_rate: pl.Expr) -> pl.Expr:
    """100 × (0.4·uptime + 0.2·(1 − alert rate) + 0.2·(1 − anomaly rate) + 0.2·data-quality rate)."""
    return 100 * (0.4 * uptime_pct / 100 + 0.2 * (1 - alert_rate) + 0.2 * (1 - anomaly_rate) + 0.2 * quality_rate)


def device_days(silver: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date × device with the sums, extremes and counts every daily table is built from."""
    day = ["event_date", "device_id"]
    minute = pl.col("event_time").dt.truncate("1m")
    fleet_minutes = ((minute.max() - minute.min()).dt.total_minutes() + 1).over("event_date")
    return (
        silver.lazy()
        .with_columns(uwh=micro_wh(), alerted=is_alert(params), anomalous=is_anomaly(params, day),
                      warned=pl.col("warnings").list.len().fill_null(0) > 0, fleet_minutes=fleet_minutes,
                      online_minute=pl.when(pl.col("status") == "online").then(minute))
        .group_by(day)
        .agg(home_id=pl.col("home_id").first(), home_name=pl.col("home_name").first(),
             device_type=pl.col("device_type").first(), energy_uwh=pl.col("uwh").sum(),
             avg_power_w=pl.col("power_w").mean(), max_power_w=pl.col("power_w").max(),
             avg_temperature_c=pl.col("temperature_c").mean(), min_temperature_c=pl.col("temperature_c").min(),
             max_temperature_c=pl.col("temperature_c").max(), readings=pl.len().cast(pl.Int64),
             online_minutes=pl.col("online_minute").drop_nulls().n_unique(), fleet_minutes=pl.col("fleet_minutes").first(),
             alert_count=pl.col("alerted").sum().cast(pl.Int64), anomalies=pl.col("anomalous").sum(),
             warned=pl.col("warned").sum())
        .with_columns(uptime_pct=(100 * pl.col("online_minutes") / pl.col("fleet_minutes")).clip(upper_bound=100.0),
                      energy_kwh=pl.col("energy_uwh") / UWH_PER_KWH)
        .with_columns(health_score=health_score(pl.col("uptime_pct"), pl.col("alert_count") / pl.col("readings"),
                                                pl.col("anomalies") / pl.col("readings"),
                                                1 - pl.col("warned") / pl.col("readings")))
        .rename({"event_date": "date"})
        .collect()
    )


def daily_energy_consumption(days: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date × home × device: energy, cost, power, temperature, readings, uptime and alerts."""
    return (days.with_columns(cost=pl.col("energy_kwh") * params.tariff_per_kwh)
            .select(list(SCHEMAS["daily_energy_consumption"])).cast(SCHEMAS["daily_energy_consumption"])
            .sort("date", "home_id", "device_id"))


def _summary(params: GoldParams) -> list[pl.Expr]:
    return [(pl.col("energy_uwh").sum() / UWH_PER_KWH).alias("total_energy_kwh"),
            (pl.col("energy_uwh").sum() / UWH_PER_KWH * params.tariff_per_kwh).alias("total_cost"),
            pl.len().cast(pl.Int64).alias("active_devices"), pl.col("health_score").mean().alias("avg_health_score"),
            pl.col("alert_count").sum().cast(pl.Int64).alias("alerts"), pl.col("readings").sum().alias("events")]


def daily_home_summary(days: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date × home: energy, cost, active devices, average device-day health, alerts and events."""
    schema = SCHEMAS["daily_home_summary"]
    return (days.group_by("date", "home_id").agg(pl.col("home_name").first(), *_summary(params))
            .select(list(schema)).cast(schema).sort("date", "home_id"))


def daily_business_summary(days: pl.DataFrame, quarantined: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date: the fleet's energy, cost, active devices, health, alerts, events and quarantined events.

    `quarantined` has one row per date: date, quarantined_events.
    """
    schema = SCHEMAS["daily_business_summary"]
    per_day = days.group_by("date").agg(*_summary(params))
    return (per_day.join(quarantined, on="date", how="full", coalesce=True)
            .with_columns(pl.col("total_energy_kwh", "total_cost").fill_null(0.0),
                          pl.col("active_devices", "alerts", "events", "quarantined_events").fill_null(0))
            .select(list(schema)).cast(schema).sort("date"))


def telemetry_1min(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per minute × device: average temperature and power, energy (Wh) and readings."""
    schema = SCHEMAS["telemetry_1min"]
    return (silver.lazy().with_columns(minute=pl.col("event_time").dt.truncate("1m"), uwh=micro_wh())
            .group_by("minute", "device_id")
            .agg(date=pl.col("event_date").first(), home_id=pl.col("home_id").first(),
                 device_type=pl.col("device_type").first(), avg_temperature_c=pl.col("temperature_c").mean(),
                 avg_power_w=pl.col("power_w").mean(), energy_wh=pl.col("uwh").sum() / UWH_PER_WH,
                 readings=pl.len())
            .select(list(schema)).cast(schema).sort("minute", "device_id").collect())


def alerts(silver: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per alert (device-flagged or threshold breach) or anomaly of an event, by kind."""
    day = ["event_date", "device_id"]
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
    base = silver.lazy().with_columns(**{f"{m}_{side}": z_bound(m, sign, params, day) for m in ("temperature_c", "power_w")
                                         for side, sign in (("hi", 1), ("lo", -1))})
    rows = [base.filter(fired.fill_null(False)).select(
        alert_time=pl.col("event_time"), date=pl.col("event_date"), home_id=pl.col("home_id"),
        device_id=pl.col("device_id"), device_type=pl.col("device_type"), kind=pl.lit(kind), value=value.cast(pl.Float64),
        threshold=threshold.cast(pl.Float64), severity=pl.lit(SEVERITY[kind]), event_id=pl.col("event_id"))
        for kind, fired, value, threshold in checks]
    schema = SCHEMAS["alerts"]
    return pl.concat(rows).select(list(schema)).cast(schema).sort("alert_time", "device_id", "kind").collect()


def monthly_billing(daily_energy: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per home × month from daily_energy_consumption: kWh, rate, energy cost, base charge and total."""
    schema = SCHEMAS["monthly_billing"]
    return (daily_energy.group_by(month=pl.col("date").dt.truncate("1mo"), home_id=pl.col("home_id"))
            .agg(uwh=(pl.col("energy_kwh") * UWH_PER_KWH).round().cast(pl.Int64).sum())
            .with_columns(energy_kwh=pl.col("uwh") / UWH_PER_KWH, rate_per_kwh=pl.lit(params.tariff_per_kwh),
                          base_charge=pl.lit(params.base_charge), currency=pl.lit(params.currency))
            .with_columns(energy_cost=(pl.col("energy_kwh") * params.tariff_per_kwh).round(2))
            .with_columns(total=(pl.col("energy_cost") + pl.col("base_charge")).round(2))
            .select(list(schema)).cast(schema).sort("month", "home_id"))


def data_quality_daily(silver: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """One row per date × rule × action: rows silver flagged (warn) or quarantine rejected (quarantine)."""
    schema = SCHEMAS["data_quality_daily"]
    warned = (silver.select(date=pl.col("event_date"), rule=pl.col("warnings")).explode("rule")
              .drop_nulls("rule").with_columns(action=pl.lit("warn")))
    rejected = (quarantine.select(date=pl.col("quarantine_date"), rule=pl.col("failed_rules")).explode("rule")
                .drop_nulls("rule").with_columns(action=pl.lit("quarantine")))
    return (pl.concat([warned, rejected]).group_by("date", "rule", "action").agg(rows=pl.len())
            .select(list(schema)).cast(schema).sort("date", "rule", "action"))


def quarantined_per_day(quarantine: pl.DataFrame) -> pl.DataFrame:
    """One row per quarantine date: the records quarantined that day."""
    return (quarantine.group_by(date=pl.col("quarantine_date")).agg(quarantined_events=pl.len().cast(pl.Int64))
            .sort("date"))
