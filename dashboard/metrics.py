"""What the dashboard shows, computed from gold frames: pure polars functions (no Streamlit, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

STATUS_RANK = {"healthy": 0, "attention": 1, "offline": 2, "critical": 3}
STATUS_COLORS = {"healthy": "#2ca02c", "attention": "#ff7f0e", "critical": "#d62728", "offline": "#7f7f7f"}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Kpi:
    """One KPI card: its value on the day and on the day before (None when there is no such day)."""

    label: str
    value: float | None
    previous: float | None

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def filter_frame(
    frame: pl.DataFrame, *, homes: tuple[str, ...] = (), device_types: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Rows of the selected homes and device types (no selection: all); frames without the column pass through."""
    if homes and "home_id" in frame.columns:
        frame = frame.filter(pl.col("home_id").is_in(homes))
    if device_types and "device_type" in frame.columns:
        frame = frame.filter(pl.col("device_type").is_in(device_types))
    return frame


def latest_day(frame: pl.DataFrame, *, until: date | None = None) -> date | None:
    """The newest `date` in the frame (not after `until`), None when there is none."""
    if frame.is_empty():
        return None
    dates = frame.get_column("date")
    if until is not None:
        dates = dates.filter(dates <= until)
    return dates.max()  # type: ignore[return-value]


def _day_totals(energy: pl.DataFrame, alerts: pl.DataFrame | None, day: date) -> dict[str, float | None] | None:
    rows = energy.filter(pl.col("date") == day)
    if rows.is_empty():
        return None
    return {
        "energy": rows.get_column("energy_kwh").sum(),
        "cost": rows.get_column("cost").sum(),
        "devices": float(rows.filter(pl.col("readings") > 0).get_column("device_id").n_unique()),
        "alerts": None if alerts is None else float(alerts_on(alerts, day)),
    }


def alerts_on(alerts: pl.DataFrame, day: date | None) -> int:
    """Rows of the alerts table on `day`: one per reading and kind, anomalies included (what the Alerts page lists)."""
    return 0 if alerts.is_empty() or day is None else alerts.filter(pl.col("date") == day).height


def _day_health(homes: pl.DataFrame, day: date) -> float | None:
    rows = homes.filter((pl.col("date") == day) & pl.col("avg_health_score").is_not_null())
    weight = rows.get_column("active_devices").sum() if not rows.is_empty() else 0
    if not weight:
        return None
    return float((rows.get_column("avg_health_score") * rows.get_column("active_devices")).sum() / weight)


def kpis(energy: pl.DataFrame, home_summary: pl.DataFrame, alerts: pl.DataFrame | None, day: date) -> list[Kpi]:
    """KPI cards for `day` against the day before: energy, cost, active devices, average health, alerts (rows of
    the alerts table, as on the Alerts page; None: the table could not be read)."""
    today, yesterday = _day_totals(energy, alerts, day), _day_totals(energy, alerts, day - timedelta(days=1))

    def pick(key: str, totals: dict[str, float | None] | None) -> float | None:
        return totals[key] if totals else None

    cards = [
        Kpi(label, pick(key, today), pick(key, yesterday))
        for label, key in (("Energy (kWh)", "energy"), ("Cost", "cost"), ("Active devices", "devices"))
    ]
    cards.append(Kpi("Avg health", _day_health(home_summary, day), _day_health(home_summary, day - timedelta(days=1))))
    cards.append(Kpi("Alerts", pick("alerts", today), pick("alerts", yesterday)))
    return cards


def history_note(newest: date | None, today: date) -> str | None:
    """What to say when the lake's newest day is not today (replayed history, or a pipeline that stopped)."""
    if newest is None or newest >= today:
        return None
    return (
        f"Today ({today.isoformat()}, UTC) has no data: the dashboard opened on {newest.isoformat()}, the latest "
        "day with data."
    )


def health_as_of(health: pl.DataFrame) -> datetime | None:
    """The moment device health describes: the fleet's newest reading, at most the time it was computed."""
    seen, computed = health.get_column("last_seen").max(), health.get_column("computed_at").max()
    if seen is None or computed is None:
        return None
    return min(seen, computed)  # type: ignore[type-var, return-value]


def health_note(as_of: datetime | None, now: datetime, *, silent_after_s: float) -> str | None:
    """What device health is relative to: the fleet's newest reading, and how long ago that was if it is stale."""
    if as_of is None:
        return None
    note = f"Device health as of {as_of:%Y-%m-%d %H:%M:%S} UTC, the fleet's newest reading."
    if (now - as_of).total_seconds() > silent_after_s:
        note += (
            " No reading has arrived since (replayed history, or the pipeline has stopped: see the Pipeline "
            "page); statuses are those of that moment."
        )
    return note


def energy_by_type(energy: pl.DataFrame) -> pl.DataFrame:
    """One row per device type: its energy (kWh) and cost over the frame, largest first."""
    return (
        energy.group_by("device_type")
        .agg(pl.col("energy_kwh").sum(), pl.col("cost").sum())
        .sort(["energy_kwh", "device_type"], descending=[True, False])
    )


def homes_map(health: pl.DataFrame) -> pl.DataFrame:
    """One row per home: position, device count, per-status counts and its worst device status."""
    ranked = health.with_columns(pl.col("status").replace_strict(STATUS_RANK, default=0).alias("rank"))
    by_home = ranked.group_by("home_id").agg(
        pl.col("home_name").first(),
        pl.col("latitude").mean(),
        pl.col("longitude").mean(),
        pl.len().alias("devices"),
        pl.col("rank").max().alias("worst_rank"),
        *(pl.col("status").eq(status).sum().alias(status) for status in STATUS_RANK),
        pl.col("health_score").mean().round(1).alias("avg_health"),
    )
    worst = {rank: status for status, rank in STATUS_RANK.items()}
    worst_status = pl.col("worst_rank").replace_strict(worst, return_dtype=pl.String).alias("worst_status")
    return by_home.with_columns(worst_status).drop("worst_rank").drop_nulls(["latitude", "longitude"]).sort("home_id")


def operational_pct(health: pl.DataFrame) -> float | None:
    """Share of devices (%) that are healthy or need attention (not critical, not offline)."""
    if health.is_empty():
        return None
    return 100.0 * health.get_column("status").is_in(["healthy", "attention"]).mean()  # type: ignore[operator]


def quarantine_by_rule(quality: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows per date and rule (warn rules left out)."""
    if quality.is_empty():
        return quality
    return (
        quality.filter(pl.col("action") == "quarantine")
        .group_by(["date", "rule"])
        .agg(pl.col("rows").sum())
        .sort(["date", "rule"])
    )


def recent_alerts(alerts: pl.DataFrame, *, limit: int) -> pl.DataFrame:
    """The newest `limit` alerts, newest first."""
    if alerts.is_empty():
        return alerts
    return alerts.sort("alert_time", descending=True).head(limit)
