"""Daily gold tables rolled up from the hourly partials (transforms.py), as pure polars functions."""

from __future__ import annotations

import polars as pl

from consumer.gold.transforms import UWH_PER_KWH, GoldParams
from lake import tables


def health_score(uptime_pct: pl.Expr, alert_rate: pl.Expr, anomaly_rate: pl.Expr, quality_rate: pl.Expr) -> pl.Expr:
    """100 × (0.4·uptime + 0.2·(1 − alert rate) + 0.2·(1 − anomaly rate) + 0.2·data-quality rate)."""
    return 100 * (0.4 * uptime_pct / 100 + 0.2 * (1 - alert_rate) + 0.2 * (1 - anomaly_rate) + 0.2 * quality_rate)


def ratio(total: str, count: str) -> pl.Expr:
    """sum(total) / sum(count), null when the count is 0 (an average rebuilt from partial sums)."""
    return pl.when(pl.col(count).sum() > 0).then(pl.col(total).sum() / pl.col(count).sum())


def device_days(hourly: pl.DataFrame) -> pl.DataFrame:
    """One row per date × device with the sums, extremes, counts and device-day health every daily table uses.

    Uptime is the share of the day's completed fleet minutes (from the minute of the day's first reading of any
    device to the minute of its last, that last minute excluded: it may still be running) in which the device sent
    an online reading; a day of a single minute counts as 100 % for the devices seen.
    """
    last_minute = pl.col("last_seen").max().over("date").dt.truncate("1m")
    first_minute = pl.col("first_seen").min().over("date").dt.truncate("1m")
    completed = pl.col("online_minutes") - (pl.col("last_online") >= last_minute).fill_null(False).cast(pl.Int64)
    uptime = (
        pl.when(pl.col("fleet_minutes") > 0)
        .then((100 * pl.col("completed_minutes") / pl.col("fleet_minutes")).clip(upper_bound=100.0))
        .otherwise(100.0)
    )
    return (
        hourly.lazy()
        .with_columns(fleet_minutes=(last_minute - first_minute).dt.total_minutes(), completed_minutes=completed)
        .group_by("date", "device_id")
        .agg(
            pl.col("home_id", "home_name", "device_type", "fleet_minutes").first(),
            pl.col("energy_uwh", "readings", "completed_minutes", "anomalies", "warned").sum(),
            avg_power_w=ratio("power_sum", "power_n"),
            max_power_w=pl.col("power_max").max(),
            avg_temperature_c=ratio("temperature_sum", "temperature_n"),
            min_temperature_c=pl.col("temperature_min").min(),
            max_temperature_c=pl.col("temperature_max").max(),
            alert_count=pl.col("alerts").sum(),
        )
        .with_columns(uptime_pct=uptime, energy_kwh=pl.col("energy_uwh") / UWH_PER_KWH)
        .with_columns(
            health_score=health_score(
                pl.col("uptime_pct"),
                pl.col("alert_count") / pl.col("readings"),
                pl.col("anomalies") / pl.col("readings"),
                1 - pl.col("warned") / pl.col("readings"),
            )
        )
        .collect()
    )


def daily_energy_consumption(days: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date × home × device: energy, cost, power, temperature, readings, uptime and alerts."""
    schema = tables.DAILY_ENERGY.schema
    return (
        days.with_columns(cost=pl.col("energy_kwh") * params.tariff_per_kwh)
        .select(list(schema))
        .cast(schema)
        .sort("date", "home_id", "device_id")
    )


def _summary(params: GoldParams) -> list[pl.Expr]:
    return [
        (pl.col("energy_uwh").sum() / UWH_PER_KWH).alias("total_energy_kwh"),
        (pl.col("energy_uwh").sum() / UWH_PER_KWH * params.tariff_per_kwh).alias("total_cost"),
        pl.len().cast(pl.Int64).alias("active_devices"),
        pl.col("health_score").mean().alias("avg_health_score"),
        pl.col("alert_count").sum().alias("alerts"),
        pl.col("readings").sum().alias("events"),
    ]


def daily_home_summary(days: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date × home: energy, cost, active devices, average device-day health, alerts and events."""
    schema = tables.DAILY_HOME.schema
    return (
        days.group_by("date", "home_id")
        .agg(pl.col("home_name").first(), *_summary(params))
        .select(list(schema))
        .cast(schema)
        .sort("date", "home_id")
    )


def daily_business_summary(days: pl.DataFrame, quarantined: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per date: the fleet's energy, cost, active devices, health, alerts, events and quarantined events.

    `quarantined` has one row per date: date, quarantined_events.
    """
    schema = tables.DAILY_BUSINESS.schema
    per_day = days.group_by("date").agg(*_summary(params))
    return (
        per_day.join(quarantined, on="date", how="full", coalesce=True)
        .with_columns(
            pl.col("total_energy_kwh", "total_cost").fill_null(0.0),
            pl.col("active_devices", "alerts", "events", "quarantined_events").fill_null(0),
        )
        .select(list(schema))
        .cast(schema)
        .sort("date")
    )


def monthly_billing(hourly: pl.DataFrame, params: GoldParams) -> pl.DataFrame:
    """One row per home × month from device_hourly's µWh: kWh, rate, energy cost, base charge and total."""
    schema = tables.MONTHLY_BILLING.schema
    return (
        hourly.group_by(month=pl.col("date").dt.truncate("1mo"), home_id=pl.col("home_id"))
        .agg(uwh=pl.col("energy_uwh").sum())
        .with_columns(
            energy_kwh=pl.col("uwh") / UWH_PER_KWH,
            rate_per_kwh=pl.lit(params.tariff_per_kwh),
            base_charge=pl.lit(params.base_charge),
            currency=pl.lit(params.currency),
        )
        .with_columns(energy_cost=(pl.col("energy_kwh") * params.tariff_per_kwh).round(2))
        .with_columns(total=(pl.col("energy_cost") + pl.col("base_charge")).round(2))
        .select(list(schema))
        .cast(schema)
        .sort("month", "home_id")
    )


def data_quality_daily(quality: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """One row per date × rule × action: rows silver flagged (warn, from quality_hourly) or quarantined."""
    schema = tables.DATA_QUALITY_DAILY.schema
    warned = quality.group_by("date", "rule").agg(pl.col("rows").sum()).with_columns(action=pl.lit("warn"))
    rejected = (
        quarantine.select(date=pl.col("quarantine_date"), rule=pl.col("failed_rules"))
        .explode("rule")
        .drop_nulls("rule")
        .group_by("date", "rule")
        .agg(rows=pl.len())
        .with_columns(action=pl.lit("quarantine"))
    )
    return pl.concat([warned.select(list(schema)).cast(schema), rejected.select(list(schema)).cast(schema)]).sort(
        "date", "rule", "action"
    )


def quarantined_per_day(quarantine: pl.DataFrame) -> pl.DataFrame:
    """One row per quarantine date: the records quarantined that day."""
    return (
        quarantine.group_by(date=pl.col("quarantine_date")).agg(quarantined_events=pl.len().cast(pl.Int64)).sort("date")
    )
