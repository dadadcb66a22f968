"""Alerts page: the sentinel's episodes, then gold's recent alerts and anomalies, highlighted by severity, with
counts and CSV download."""

from __future__ import annotations

import pandas as pd
import polars as pl
import streamlit as st

from config.settings import Settings
from dashboard import data, episodes, metrics
from dashboard.controls import Filters, csv_button, no_data

SHOWN_ROWS = 500
SEVERITY_BACKGROUND = {
    "critical": "background-color: #f8d7da",
    "warning": "background-color: #fff3cd",
    "info": "background-color: #e7f1ff",
}


def _highlight(row: pd.Series) -> list[str]:
    return [SEVERITY_BACKGROUND.get(row["severity"], "")] * len(row)


def render(settings: Settings, filters: Filters) -> None:
    """The whole Alerts page."""
    episodes.render_list(settings)
    st.subheader("Alerts and anomalies")
    alerts = metrics.filter_frame(
        data.read_table(settings, "alerts", dates=filters.dates), homes=filters.homes, device_types=filters.device_types
    )
    if alerts.is_empty():
        no_data(f"no alerts between {filters.dates[0]} and {filters.dates[1]} for the selected homes and types")
        return
    kinds = st.multiselect(
        "Kinds", sorted(alerts.get_column("kind").unique().to_list()), placeholder="all kinds", key="alert_kinds"
    )
    if kinds:
        alerts = alerts.filter(pl.col("kind").is_in(kinds))
    counts = dict(alerts.group_by("severity").len().iter_rows())
    for column, severity in zip(st.columns(4), ("critical", "warning", "info"), strict=False):
        column.metric(severity.capitalize(), f"{counts.get(severity, 0):,}")
    recent = metrics.recent_alerts(alerts, limit=SHOWN_ROWS).drop("date")
    newest = metrics.latest_day(alerts)
    st.caption(
        f"{alerts.height:,} alerts in the selected dates (one row per reading and kind, anomalies included), "
        f"{metrics.alerts_on(alerts, newest):,} of them on {newest} (with all kinds, the Overview's Alerts card "
        f"counts the same rows for its day); the newest {min(SHOWN_ROWS, alerts.height):,} shown"
    )
    styled = recent.to_pandas().style.apply(_highlight, axis=1).format({"value": "{:.2f}", "threshold": "{:.2f}"})
    st.dataframe(styled, hide_index=True, key="alerts_table")
    csv_button(alerts.sort("alert_time", descending=True), name="alerts", key="alerts_csv")
