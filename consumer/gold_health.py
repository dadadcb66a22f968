"""Device health over a trailing window: a pure polars function, with the score and risk formulas (docs/gold.md)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from consumer.gold_transforms import UTC_TS, GoldParams, health_score, is_alert, is_anomaly

SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(), "device_type": pl.String(), "home_id": pl.String(), "home_name": pl.String(),
    "latitude": pl.Float64(), "longitude": pl.Float64(), "location": pl.String(), "readings": pl.Int64(),
    "uptime_pct": pl.Float64(), "alert_rate": pl.Float64(), "anomaly_rate": pl.Float64(),
    "data_quality_rate": pl.Float64(), "last_seen": UTC_TS, "health_score": pl.Float64(),
    "failure_risk": pl.Float64(), "status": pl.String(), "computed_at": UTC_TS,
}

CATALOG_COLUMNS = ("device_id", "device_type", "home_id", "home_name", "location", "latitude", "longitude")


def failure_risk(uptime_pct: pl.Expr, error_rate: pl.Expr, alert_rate: pl.Expr, anomaly_rate: pl.Expr) -> pl.Expr:
    """min(1, 0.4·(1 − uptime) + 0.3·error-status rate + 0.3·min(1, alert rate + anomaly rate))."""
    return (0.4 * (1 - uptime_pct / 100) + 0.3 * error_rate
            + 0.3 * (alert_rate + anomaly_rate).clip(upper_bound=1.0)).clip(upper_bound=1.0)


def status(params: GoldParams, now: datetime) -> pl.Expr:
    """offline (silent > OFFLINE_AFTER_S), critical (score < 50 or risk ≥ 0.6), attention (< 80 or ≥ 0.3), healthy."""
    silent_s = (pl.lit(now, UTC_TS) - pl.col("last_seen")).dt.total_microseconds() / 1e6
    return (pl.when(pl.col("last_seen").is_null() | (silent_s > params.offline_after_s)).then(pl.lit("offline"))
            .when((pl.col("health_score") < 50) | (pl.col("failure_risk") >= 0.6)).then(pl.lit("critical"))
            .when((pl.col("health_score") < 80) | (pl.col("failure_risk") >= 0.3)).then(pl.lit("attention"))
            .otherwise(pl.lit("healthy")))


def device_health_metrics(window: pl.DataFrame, catalog: pl.DataFrame, params: GoldParams, *, now: datetime,
                          window_start: datetime) -> pl.DataFrame:
    """One row per device (catalog ∪ seen): uptime, alert/anomaly/quality rates, last seen, score, risk and status.

    `window` holds the silver rows with window_start ≤ event_time ≤ now. Uptime is the share of minutes, from the
    window's start (or the fleet's first reading in it, if later) to now, in which the device sent an online reading.
    """
    minute = pl.col("event_time").dt.truncate("1m")
    first = window["event_time"].min() if window.height else None
    start = max(window_start, first) if first is not None else window_start
    expected_minutes = (pl.lit(now, UTC_TS).dt.truncate("1m") - pl.lit(start, UTC_TS).dt.truncate("1m")
                        ).dt.total_minutes() + 1
    stats = (
        window.lazy()
        .with_columns(alerted=is_alert(params), anomalous=is_anomaly(params, ["device_id"]),
                      warned=pl.col("warnings").list.len().fill_null(0) > 0,
                      online_minute=pl.when(pl.col("status") == "online").then(minute))
        .group_by("device_id")
        .agg(seen_type=pl.col("device_type").first(), seen_home=pl.col("home_id").first(),
             seen_home_name=pl.col("home_name").first(), seen_location=pl.col("location").first(),
             readings=pl.len().cast(pl.Int64), last_seen=pl.col("event_time").max(),
             online_minutes=pl.col("online_minute").drop_nulls().n_unique(),
             alert_rate=pl.col("alerted").mean(), anomaly_rate=pl.col("anomalous").mean(),
             data_quality_rate=1 - pl.col("warned").mean(), error_rate=(pl.col("status") == "error").mean())
        .with_columns(uptime_pct=(100 * pl.col("online_minutes") / expected_minutes).clip(upper_bound=100.0))
        .collect()
    )
    known = catalog.select(CATALOG_COLUMNS)
    seen = pl.col("readings").fill_null(0) > 0
    return (
        known.join(stats, on="device_id", how="full", coalesce=True)
        .with_columns(device_type=pl.coalesce("device_type", "seen_type"), home_id=pl.coalesce("home_id", "seen_home"),
                      home_name=pl.coalesce("home_name", "seen_home_name"),
                      location=pl.coalesce("location", "seen_location"), readings=pl.col("readings").fill_null(0),
                      uptime_pct=pl.col("uptime_pct").fill_null(0.0))
        .with_columns(health_score=pl.when(seen).then(health_score(pl.col("uptime_pct"), pl.col("alert_rate"),
                                                                   pl.col("anomaly_rate"), pl.col("data_quality_rate")))
                      .otherwise(0.0),
                      failure_risk=pl.when(seen).then(failure_risk(pl.col("uptime_pct"), pl.col("error_rate"),
                                                                   pl.col("alert_rate"), pl.col("anomaly_rate")))
                      .otherwise(1.0))
        .with_columns(status=status(params, now), computed_at=pl.lit(now, UTC_TS))
        .select(list(SCHEMA)).cast(SCHEMA).sort("device_id")
    )
