"""Device health over a trailing window: a pure polars function, with the score and risk formulas (docs/gold.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from consumer.gold.rollups import health_score
from consumer.gold.transforms import GoldParams
from lake import tables
from lake.tables import UTC_TS

CATALOG_COLUMNS = ("device_id", "device_type", "home_id", "home_name", "location", "latitude", "longitude")


def failure_risk(uptime_pct: pl.Expr, error_rate: pl.Expr, alert_rate: pl.Expr, anomaly_rate: pl.Expr) -> pl.Expr:
    """min(1, 0.4·(1 − uptime) + 0.3·error-status rate + 0.3·min(1, alert rate + anomaly rate))."""
    return (
        0.4 * (1 - uptime_pct / 100) + 0.3 * error_rate + 0.3 * (alert_rate + anomaly_rate).clip(upper_bound=1.0)
    ).clip(upper_bound=1.0)


def status(params: GoldParams, moment: datetime) -> pl.Expr:
    """offline (silent > OFFLINE_AFTER_S before `moment`, see as_of), critical (score < 50 or risk ≥ 0.6),
    attention (< 80 or ≥ 0.3), healthy."""
    silent_s = (pl.lit(moment, UTC_TS) - pl.col("last_seen")).dt.total_microseconds() / 1e6
    return (
        pl.when(pl.col("last_seen").is_null() | (silent_s > params.offline_after_s))
        .then(pl.lit("offline"))
        .when((pl.col("health_score") < 50) | (pl.col("failure_risk") >= 0.6))
        .then(pl.lit("critical"))
        .when((pl.col("health_score") < 80) | (pl.col("failure_risk") >= 0.3))
        .then(pl.lit("attention"))
        .otherwise(pl.lit("healthy"))
    )


def as_of(hourly: pl.DataFrame, now: datetime) -> datetime:
    """The moment health describes: the fleet's newest reading, or now if that is later than now (or there is none).
    Readers get it back from the table as min(max(last_seen), computed_at)."""
    newest = hourly["last_seen"].max() if hourly.height else None
    return min(now, newest) if newest is not None else now  # type: ignore[type-var, return-value]


def _device_stats(hourly: pl.DataFrame, *, start: datetime, horizon: datetime) -> pl.DataFrame:
    """Per device: attributes seen, readings, rates, last seen and uptime over the completed minutes
    [start, horizon)."""
    expected = max(0, int((horizon - start).total_seconds() // 60))
    completed = pl.col("online_minutes") - (pl.col("last_online") >= horizon).fill_null(False).cast(pl.Int64)
    uptime = (100 * pl.col("completed_minutes") / expected).clip(upper_bound=100.0) if expected else pl.lit(100.0)
    per_reading = {
        name: pl.col(column).sum() / pl.col("readings").sum()
        for name, column in (
            ("alert_rate", "alerts"),
            ("anomaly_rate", "anomalies"),
            ("warned_rate", "warned"),
            ("error_rate", "errors"),
        )
    }
    return (
        hourly.lazy()
        .sort("hour")
        .with_columns(completed_minutes=completed)
        .group_by("device_id")
        .agg(
            seen_type=pl.col("device_type").last(),
            seen_home=pl.col("home_id").last(),
            seen_home_name=pl.col("home_name").last(),
            seen_location=pl.col("location").last(),
            readings=pl.col("readings").sum(),
            last_seen=pl.col("last_seen").max(),
            completed_minutes=pl.col("completed_minutes").sum(),
            **per_reading,
        )
        .with_columns(uptime_pct=uptime, data_quality_rate=1 - pl.col("warned_rate"))
        .collect()
    )


def device_health_metrics(
    hourly: pl.DataFrame, catalog: pl.DataFrame, params: GoldParams, *, now: datetime, window: timedelta
) -> pl.DataFrame:
    """One row per device (catalog ∪ seen): uptime, alert/anomaly/quality rates, last seen, score, risk and status.

    Everything is relative to `as_of` (the fleet's newest reading, at most now), so replayed history is judged
    against its own time. The window is the whole hours from hour(as_of − window) to as_of. Uptime is the share of
    the window's completed minutes (from its start, or the fleet's first reading in it if later, to the minute of
    as_of, exclusive) in which the device sent an online reading; the minute still running never counts.
    """
    moment = as_of(hourly, now)
    first_hour = (moment - window).replace(minute=0, second=0, microsecond=0)
    hourly = hourly.filter(pl.col("hour").is_between(pl.lit(first_hour, UTC_TS), pl.lit(moment, UTC_TS)))
    horizon = moment.replace(second=0, microsecond=0)
    first: datetime | None = hourly["first_seen"].min() if hourly.height else None  # type: ignore[assignment]
    start = max(first_hour, first.replace(second=0, microsecond=0)) if first is not None else first_hour
    stats = _device_stats(hourly, start=start, horizon=horizon)
    known = catalog.select(CATALOG_COLUMNS)
    seen = pl.col("readings").fill_null(0) > 0
    return (
        known.join(stats, on="device_id", how="full", coalesce=True)
        .with_columns(
            device_type=pl.coalesce("device_type", "seen_type"),
            home_id=pl.coalesce("home_id", "seen_home"),
            home_name=pl.coalesce("home_name", "seen_home_name"),
            location=pl.coalesce("location", "seen_location"),
            readings=pl.col("readings").fill_null(0),
            uptime_pct=pl.col("uptime_pct").fill_null(0.0),
        )
        .with_columns(
            health_score=pl.when(seen)
            .then(
                health_score(
                    pl.col("uptime_pct"), pl.col("alert_rate"), pl.col("anomaly_rate"), pl.col("data_quality_rate")
                )
            )
            .otherwise(0.0),
            failure_risk=pl.when(seen)
            .then(
                failure_risk(pl.col("uptime_pct"), pl.col("error_rate"), pl.col("alert_rate"), pl.col("anomaly_rate"))
            )
            .otherwise(1.0),
        )
        .with_columns(status=status(params, moment), computed_at=pl.lit(now, UTC_TS))
        .select(list(tables.DEVICE_HEALTH.schema))
        .cast(tables.DEVICE_HEALTH.schema)
        .sort("device_id")
    )
