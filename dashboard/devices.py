"""Devices page: a sortable health table, and one device's history and recent alerts."""

from __future__ import annotations

import polars as pl
import streamlit as st

from config.settings import Settings
from dashboard import charts, data, metrics
from dashboard.controls import Filters, csv_button, no_data

TABLE_COLUMNS = (
    "device_id",
    "home_name",
    "device_type",
    "location",
    "status",
    "health_score",
    "failure_risk",
    "uptime_pct",
    "last_seen",
    "readings",
    "alert_rate",
    "anomaly_rate",
    "data_quality_rate",
)


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def _device_history(settings: Settings, filters: Filters, device: dict) -> None:
    device_id = device["device_id"]
    st.markdown(f"#### {device_id} · {device['device_type']} · {device['home_name']} ({device['location']})")
    cards = st.columns(5)
    cards[0].metric("Status", device["status"])
    cards[1].metric("Health", _fmt(device["health_score"], "{:.1f}"))
    cards[2].metric("Failure risk", _fmt(device["failure_risk"], "{:.2f}"))
    cards[3].metric("Uptime", _fmt(device["uptime_pct"], "{:.1f} %"))
    seen = device["last_seen"]
    cards[4].metric(f"Last seen, {seen:%b %d} (UTC)" if seen else "Last seen", f"{seen:%H:%M}" if seen else "never")
    mine = pl.col("device_id") == device_id
    daily = data.read_table(settings, "daily_energy_consumption", dates=filters.dates).filter(mine).sort("date")
    minutes = data.read_recent(settings, "telemetry_1min", time_column="minute", minutes=filters.live_minutes)
    minutes = minutes.filter(mine) if not minutes.is_empty() else minutes
    left, right = st.columns(2)
    if daily.is_empty():
        left.info("No daily energy for this device in the selected dates.")
    else:
        left.plotly_chart(
            charts.daily_bars(daily, x="date", y="energy_kwh", color="device_id", title="Energy per day (kWh)"),
            key="device_daily",
        )
    if minutes.is_empty():
        right.info(f"No minute telemetry for this device in the last {filters.live_minutes} minutes.")
    else:
        right.plotly_chart(
            charts.lines(
                minutes,
                x="minute",
                y="avg_power_w",
                by="device_id",
                title=f"Power, last {filters.live_minutes} min",
                y_title="W",
            ),
            key="device_power",
        )
    alerts = metrics.recent_alerts(data.read_table(settings, "alerts", dates=filters.dates).filter(mine), limit=50)
    st.markdown("##### Recent alerts")
    if alerts.is_empty():
        st.info("No alerts for this device in the selected dates.")
    else:
        shown = alerts.drop("date", "home_id", "device_id", "device_type")
        st.dataframe(shown, hide_index=True, key="device_alerts")
        csv_button(shown, name=f"alerts_{device_id}", key="device_alerts_csv")


def render(settings: Settings, filters: Filters) -> None:
    """The whole Devices page."""
    st.subheader("Devices")
    health = metrics.filter_frame(
        data.read_table(settings, "device_health_metrics"), homes=filters.homes, device_types=filters.device_types
    )
    if health.is_empty():
        no_data("no device health for the selected homes and device types")
        return
    table = health.select([c for c in TABLE_COLUMNS if c in health.columns]).sort(
        ["health_score", "device_id"], nulls_last=True
    )
    st.dataframe(
        table,
        hide_index=True,
        key="devices_table",
        column_config={
            "health_score": st.column_config.ProgressColumn(
                "health", min_value=0, max_value=100, format="%.1f", color="auto"
            ),  # green when high, red when low
            "failure_risk": st.column_config.NumberColumn("failure risk", format="%.2f"),
            "uptime_pct": st.column_config.NumberColumn("uptime %", format="%.1f"),
        },
    )
    csv_button(table, name="devices", key="devices_csv")
    rows = {row["device_id"]: row for row in table.iter_rows(named=True)}
    picked = st.selectbox(
        "Device",
        list(rows),
        format_func=lambda d: f"{d} · {rows[d]['device_type']} · {rows[d]['home_name']} · {rows[d]['status']}",
        key="device_pick",
    )
    if picked is not None:
        _device_history(settings, filters, rows[picked])
