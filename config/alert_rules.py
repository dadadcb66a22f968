"""The alert rules, declared once for every consumer: gold (one row per offending reading) and the sentinel
(episodes, consumer/sentinel/).

Each device type's limits and minimum anomaly deviations live in config/device_types.toml ([TYPE.alerts],
[TYPE.anomaly]). `limits_frame()` turns them into one row per type, `with_limits` joins them to readings, and
`threshold_checks()` gives, per alert kind, the polars expressions that decide it, its value and its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from config.catalog import ALERT_LIMITS, ANOMALY_METRICS, device_types

SEVERITY = {
    "high_temperature": "critical",
    "high_power": "critical",
    "high_co": "critical",
    "high_smoke": "critical",
    "silent": "critical",
    "low_temperature": "warning",
    "low_battery": "warning",
    "connectivity_issue": "warning",
    "maintenance_required": "info",
    "temperature_anomaly": "warning",
    "power_anomaly": "warning",
}
ANOMALY_KINDS = {"temperature_c": "temperature_anomaly", "power_w": "power_anomaly"}
# What the sentinel watches live, as episodes: the critical threshold kinds, low temperature (a freezing home) and
# a device silent for longer than expected (a timer, not a reading: consumer/sentinel/silence.py).
SENTINEL_KINDS = ("high_temperature", "low_temperature", "high_power", "high_co", "high_smoke")
SILENT = "silent"


@dataclass(frozen=True)
class Check:
    """One alert kind: when it fires, the value it reports and the threshold it crossed (expressions over readings
    that carry their type's limits, see `with_limits`)."""

    kind: str
    fired: pl.Expr
    value: pl.Expr
    threshold: pl.Expr

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


def min_deviation(metric: str) -> str:
    """Name of the column holding a metric's minimum meaningful deviation."""
    return f"{metric}_min_dev"


def limits_frame() -> pl.DataFrame:
    """One row per device type: its alert limits and minimum anomaly deviations (null: none declared)."""
    rows = [
        {
            "device_type": t.name,
            **{k: t.alerts.get(k) for k in ALERT_LIMITS},
            **{min_deviation(m): t.anomaly.get(m) for m in ANOMALY_METRICS},
        }
        for t in device_types().values()
    ]
    schema = {
        "device_type": pl.String,
        **dict.fromkeys(ALERT_LIMITS, pl.Float64),
        **{min_deviation(m): pl.Float64 for m in ANOMALY_METRICS},
    }
    return pl.DataFrame(rows, schema=schema)


def with_limits(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Readings with their device type's limit columns (null for a type the TOML does not know)."""
    return readings.join(limits_frame().lazy(), on="device_type", how="left")


def _device_flag(code: str) -> pl.Expr:
    return pl.col("alert") == code


def threshold_checks() -> list[Check]:
    """Alert kinds decided by one reading: the device's own flag or its type's limit crossed."""
    t, p, none = pl.col("temperature_c"), pl.col("power_w"), pl.lit(None, pl.Float64)
    high_t, low_t, high_p = pl.col("temperature_high_c"), pl.col("temperature_low_c"), pl.col("power_high_w")
    co, smoke = pl.col("co_ppm"), pl.col("smoke_ppm")
    return [
        Check("high_temperature", _device_flag("high_temperature") | (t > high_t), t, high_t),
        Check("low_temperature", _device_flag("low_temperature") | (t < low_t), t, low_t),
        Check("high_power", _device_flag("high_power") | (p > high_p), p, high_p),
        Check("high_co", co > pl.col("co_high_ppm"), co, pl.col("co_high_ppm")),
        Check("high_smoke", smoke > pl.col("smoke_high_ppm"), smoke, pl.col("smoke_high_ppm")),
        Check("low_battery", _device_flag("low_battery"), pl.col("battery_pct"), none),
        Check("connectivity_issue", _device_flag("connectivity_issue"), none, none),
        Check("maintenance_required", _device_flag("maintenance_required"), none, none),
    ]


def is_alerted() -> pl.Expr:
    """A reading that raised at least one threshold alert (anomalies not included), never null."""
    fired = pl.any_horizontal(*(check.fired.fill_null(False) for check in threshold_checks()))
    return pl.col("alert").is_not_null() | fired
