"""Overview page: KPI cards against yesterday, energy by type, health vs risk, system gauge, live lines, homes map."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from config.errors import LakehouseError
from config.settings import Settings
from dashboard import charts, data, metrics
from dashboard.controls import Filters, csv_button, no_data

KPI_FORMATS = {
    "Energy (kWh)": "{:,.2f}",
    "Cost": "{:,.2f}",
    "Active devices": "{:,.0f}",
    "Avg health": "{:.1f}",
    "Alerts": "{:,.0f}",
}
KPI_HELP = {
    "Alerts": "Rows of the alerts table that day: one per reading and kind, anomalies included; the Alerts "
    "page lists the same rows."
}


@st.cache_resource(max_entries=64, show_spinner=False)
def _figure(name: str, key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    """A figure built once per `key` (the versions of its tables and the filters): a refresh without news reuses it."""
    return _build()


def _alerts(settings: Settings, filters: Filters) -> pl.DataFrame | None:
    """The selected alerts' dates, homes and types; None (the card shows –) when the table cannot be read."""
    try:
        frame = data.read_table(settings, "alerts", dates=filters.dates, columns=("date", "home_id", "device_type"))
    except LakehouseError as exc:
        st.warning(f"The Alerts card is empty: {exc}")
        return None
    return metrics.filter_frame(frame, homes=filters.homes, device_types=filters.device_types)


def _kpi_cards(settings: Settings, filters: Filters) -> None:
    energy = metrics.filter_frame(
        data.read_table(settings, "daily_energy_consumption", dates=filters.dates),
        homes=filters.homes,
        device_types=filters.device_types,
    )
    homes = metrics.filter_frame(
        data.read_table(settings, "daily_home_summary", dates=filters.dates), homes=filters.homes
    )
    alerts = _alerts(settings, filters)
    day = metrics.latest_day(energy, until=filters.dates[1])
    if day is None:
        no_data("no daily energy for the selected dates, homes and device types")
        return
    st.caption(f"KPIs for {day.isoformat()} (UTC), change against the day before")
    for column, kpi in zip(st.columns(5), metrics.kpis(energy, homes, alerts, day), strict=True):
        fmt = KPI_FORMATS[kpi.label]
        label = f"{kpi.label} ({settings.currency})" if kpi.label == "Cost" else kpi.label
        column.metric(
            label,
            "–" if kpi.value is None else fmt.format(kpi.value),
            None if kpi.delta is None else fmt.format(kpi.delta),
            help=KPI_HELP.get(kpi.label),
            delta_color="inverse" if kpi.label in ("Cost", "Alerts") else "normal",
        )
    key = (data.versions(settings, "daily_energy_consumption"), filters.key)
    st.plotly_chart(
        _figure("energy_by_type", key, lambda: charts.energy_by_type_bar(metrics.energy_by_type(energy))),
        key="energy_by_type",
    )


def _health(settings: Settings, filters: Filters) -> None:
    health = metrics.filter_frame(
        data.read_table(settings, "device_health_metrics"), homes=filters.homes, device_types=filters.device_types
    )
    if health.is_empty():
        no_data("no device health yet")
        return
    if note := metrics.health_note(
        metrics.health_as_of(health), datetime.now(UTC), silent_after_s=settings.offline_after_s
    ):
        st.caption(note)
    key = (data.versions(settings, "device_health_metrics"), filters.key)
    left, right = st.columns([2, 1])
    left.plotly_chart(_figure("health_vs_risk", key, lambda: charts.health_vs_risk(health)), key="health_vs_risk")
    right.plotly_chart(
        _figure("gauge", key, lambda: charts.system_gauge(metrics.operational_pct(health) or 0.0)), key="system_gauge"
    )
    homes = metrics.homes_map(health)
    if homes.is_empty():
        st.info("No home has coordinates yet, so the map is empty.")
    else:
        st.plotly_chart(_figure("homes_map", key, lambda: charts.homes_map(homes)), key="homes_map")


def _live(settings: Settings, filters: Filters) -> None:
    recent = data.read_recent(settings, "telemetry_1min", time_column="minute", minutes=filters.live_minutes)
    window = metrics.filter_frame(recent, homes=filters.homes, device_types=filters.device_types)
    if window.is_empty():
        no_data("no minute telemetry for the selected homes and device types")
        return
    key = (data.versions(settings, "telemetry_1min"), filters.key)
    left, right = st.columns(2)
    left.plotly_chart(
        _figure(
            "live_temp",
            key,
            lambda: charts.lines(
                window,
                x="minute",
                y="avg_temperature_c",
                by="device_id",
                title=f"Temperature, last {filters.live_minutes} min",
                y_title="°C",
            ),
        ),
        key="live_temp",
    )
    right.plotly_chart(
        _figure(
            "live_power",
            key,
            lambda: charts.lines(
                window,
                x="minute",
                y="avg_power_w",
                by="device_id",
                title=f"Power, last {filters.live_minutes} min",
                y_title="W",
            ),
        ),
        key="live_power",
    )


def _billing(settings: Settings, filters: Filters) -> None:
    billing = metrics.filter_frame(data.read_table(settings, "monthly_billing"), homes=filters.homes)
    if billing.is_empty():
        return
    names = data.read_table(settings, "device_health_metrics", columns=("home_id", "home_name")).unique("home_id")
    with st.expander("Monthly billing per home"):
        table = (
            billing.join(names, on="home_id", how="left")
            .select(pl.col("month").dt.strftime("%Y-%m"), "home_name", pl.exclude("month", "home_name"))
            .sort(["month", "home_id"], descending=[True, False])
        )
        st.dataframe(table, hide_index=True, key="billing_table")
        csv_button(table, name="monthly_billing", key="billing_csv")


def render(settings: Settings, filters: Filters) -> None:
    """The whole Overview page."""
    st.subheader("Overview")
    bounds = data.date_bounds(settings, "daily_energy_consumption")
    if note := metrics.history_note(bounds[1] if bounds else None, datetime.now(UTC).date()):
        st.caption(note)
    _kpi_cards(settings, filters)
    _health(settings, filters)
    _live(settings, filters)
    _billing(settings, filters)
