"""Plotly figures built from the frames in dashboard.metrics (no Streamlit, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator

import plotly.graph_objects as go
import polars as pl

from dashboard.metrics import STATUS_COLORS

MAX_LINES = 10
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320}
# Numbers as people read them: no SI prefixes ("15μ" kWh) and no float noise (0.300000000000000044) on an axis.
VALUE_AXIS = {"tickformat": ",.4~g", "exponentformat": "none"}
TIME_AXIS = {"title": "time (UTC)"}


def _by_status(frame: pl.DataFrame, column: str) -> Iterator[tuple[str, str, pl.DataFrame]]:
    """(status, colour, rows) for each status that has rows, in STATUS_COLORS order."""
    for status, color in STATUS_COLORS.items():
        rows = frame.filter(pl.col(column) == status)
        if not rows.is_empty():
            yield status, color, rows


def energy_by_type_bar(by_type: pl.DataFrame) -> go.Figure:
    """Bar per device type: kWh over the selected dates."""
    fig = go.Figure(
        go.Bar(
            x=by_type["device_type"].to_list(),
            y=by_type["energy_kwh"].to_list(),
            hovertemplate="%{x}: %{y:,.3f} kWh<extra></extra>",
        )
    )
    return fig.update_layout(title="Energy by device type (kWh)", yaxis={**VALUE_AXIS, "title": "kWh"}, **LAYOUT)


def health_vs_risk(health: pl.DataFrame) -> go.Figure:
    """Scatter of health score against failure risk, one point per device, coloured by status."""
    fig = go.Figure()
    for status, color, rows in _by_status(health, "status"):
        fig.add_trace(
            go.Scattergl(
                x=rows["health_score"].to_list(),
                y=rows["failure_risk"].to_list(),
                mode="markers",
                name=status,
                marker={"color": color},
                text=rows["device_id"].to_list(),
                hovertemplate="%{text}<br>health %{x:.0f}<br>risk %{y:.2f}<extra></extra>",
            )
        )
    return fig.update_layout(
        title="Health score vs failure risk", xaxis_title="health score", yaxis_title="failure risk", **LAYOUT
    )


def system_gauge(operational: float) -> go.Figure:
    """Gauge of the share of devices that are operational: healthy or attention (working, but watch them: the map
    shows those homes orange); critical and offline devices are not."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=operational,
            number={"suffix": " %", "valueformat": ".0f"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": "#1f77b4"},
                "steps": [
                    {"range": [0, 70], "color": "#f4c7c3"},
                    {"range": [70, 90], "color": "#fce8b2"},
                    {"range": [90, 100], "color": "#b7e1cd"},
                ],
            },
        )
    )
    return fig.update_layout(title="Devices operational (healthy + attention)", **LAYOUT)


def lines(
    frame: pl.DataFrame, *, x: str, y: str, by: str, title: str, y_title: str, max_lines: int = MAX_LINES
) -> go.Figure:
    """One line per `by` value (e.g. per device) of `y` over `x`: the `max_lines` with the highest mean `y`."""
    rows = frame.filter(pl.col(y).is_not_null())
    top = rows.group_by(by).agg(pl.col(y).mean()).sort([y, by], descending=[True, False]).head(max_lines)
    fig = go.Figure()
    for key, series in (
        rows.filter(pl.col(by).is_in(top.get_column(by).implode()))
        .partition_by(by, as_dict=True, maintain_order=True)
        .items()
    ):
        fig.add_trace(
            go.Scattergl(
                x=series[x].to_list(),
                y=series[y].to_list(),
                mode="lines",
                name=str(key[0]),
                hovertemplate=f"%{{x|%H:%M}} UTC: %{{y:,.4~g}} {y_title}<extra>%{{fullData.name}}</extra>",
            )
        )
    total = rows.get_column(by).n_unique()
    shown = f" (top {max_lines} of {total})" if top.height < total else ""
    return fig.update_layout(title=title + shown, yaxis={**VALUE_AXIS, "title": y_title}, xaxis=TIME_AXIS, **LAYOUT)


def homes_map(homes: pl.DataFrame) -> go.Figure:
    """Homes on an OpenStreetMap map, coloured by their worst device's status, with counts on hover."""
    fig = go.Figure()
    for status, color, rows in _by_status(homes, "worst_status"):
        hover = [
            f"<b>{r['home_name']}</b> ({r['home_id']})<br>{r['devices']} devices, avg health {r['avg_health']}"
            f"<br>healthy {r['healthy']} · attention {r['attention']} · critical {r['critical']}"
            f" · offline {r['offline']}"
            for r in rows.iter_rows(named=True)
        ]
        fig.add_trace(
            go.Scattermap(
                lat=rows["latitude"].to_list(),
                lon=rows["longitude"].to_list(),
                mode="markers",
                marker={"size": 14, "color": color},
                name=status,
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    center = {"lat": float(homes["latitude"].mean()), "lon": float(homes["longitude"].mean())}  # type: ignore[arg-type]
    return fig.update_layout(
        title="Homes by worst device status",
        map={"style": "open-street-map", "center": center, "zoom": 4},
        **{**LAYOUT, "height": 420},
    )


def daily_bars(frame: pl.DataFrame, *, x: str, y: str, color: str, title: str) -> go.Figure:
    """Stacked bars of `y` per `x`, one series per `color` value."""
    fig = go.Figure()
    for key, rows in frame.partition_by(color, as_dict=True, maintain_order=True).items():
        fig.add_trace(go.Bar(x=rows[x].to_list(), y=rows[y].to_list(), name=str(key[0])))
    if frame.get_column(x).n_unique() <= 31:  # a few days: one labelled bar per day, no hour ticks in between
        fig.update_xaxes(type="category")
    return fig.update_layout(title=title, barmode="stack", yaxis=VALUE_AXIS, xaxis={"title": "date (UTC)"}, **LAYOUT)
