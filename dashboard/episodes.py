"""The sentinel's alert episodes: the banner of open critical episodes on every page, and the Alerts page's list.

Both read gold/alert_episodes (one row per change, small) through the dashboard's per-version cache, and summarise
it once per Delta version: a banner refresh every second costs a log check when nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from config.settings import Settings
from dashboard import data
from dashboard.controls import guarded
from lake import tables

BANNER_REFRESH_S = 1.0
BANNER_ROWS = 5


def summarise(changes: pl.DataFrame) -> pl.DataFrame:
    """One row per episode: device, kind, severity, start, end (null while open), peak and last value."""
    if changes.is_empty():
        return pl.DataFrame(
            schema={
                "episode_id": pl.String,
                "device_id": pl.String,
                "home_id": pl.String,
                "kind": pl.String,
                "severity": pl.String,
                "started_at": tables.UTC_TS,
                "resolved_at": tables.UTC_TS,
                "peak": pl.Float64,
                "value": pl.Float64,
                "changes": pl.UInt32,
            }
        )
    return (
        changes.sort("changed_at", "batch")
        .group_by("episode_id", maintain_order=True)
        .agg(
            pl.col("device_id", "home_id", "kind", "severity", "started_at").first(),
            resolved_at=pl.col("resolved_at").max(),
            peak=pl.col("peak").last(),
            value=pl.col("value").last(),
            changes=pl.len(),
        )
        .sort("started_at", descending=True)
    )


def with_duration(episodes: pl.DataFrame, *, now: datetime) -> pl.DataFrame:
    """Episodes with `state` (open / resolved) and `duration_s` (until now while open)."""
    end = pl.coalesce(pl.col("resolved_at"), pl.lit(now, tables.UTC_TS))
    return episodes.with_columns(
        state=pl.when(pl.col("resolved_at").is_null()).then(pl.lit("open")).otherwise(pl.lit("resolved")),
        duration_s=(end - pl.col("started_at")).dt.total_milliseconds() / 1000,
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def _summary(path: str, version: int | None, _changes: pl.DataFrame) -> pl.DataFrame:
    return summarise(_changes)


def episodes(settings: Settings) -> pl.DataFrame:
    """Every episode of the lake (cached per version of gold/alert_episodes)."""
    (version,) = data.versions(settings, tables.ALERT_EPISODES.name)
    changes = data.read_table(settings, tables.ALERT_EPISODES.name) if version is not None else pl.DataFrame()
    return _summary(str(tables.ALERT_EPISODES.path(settings)), version, changes)


def open_critical(settings: Settings) -> pl.DataFrame:
    return episodes(settings).filter(pl.col("resolved_at").is_null() & (pl.col("severity") == "critical"))


def _describe(row: dict, now: datetime) -> str:
    minutes, seconds = divmod(int((now - row["started_at"]).total_seconds()), 60)
    return (
        f"**{row['device_id']}** {row['kind'].replace('_', ' ')} since {row['started_at']:%Y-%m-%d %H:%M:%S}Z "
        f"({minutes} min {seconds} s)"
    )


def banner(settings: Settings) -> None:
    """A red banner listing the open critical episodes, re-read every second (nothing when there is none)."""

    @st.fragment(run_every=BANNER_REFRESH_S)
    def show() -> None:
        def render() -> None:
            shown = open_critical(settings)
            if shown.is_empty():
                return
            now = datetime.now(UTC)
            lines = [_describe(row, now) for row in shown.head(BANNER_ROWS).iter_rows(named=True)]
            more = f" … and {shown.height - BANNER_ROWS} more" if shown.height > BANNER_ROWS else ""
            st.error(
                f"{shown.height} open critical alert{'s' if shown.height > 1 else ''}: " + "; ".join(lines) + more,
                icon=":material/crisis_alert:",
            )

        guarded(render)

    show()


def render_list(settings: Settings) -> None:
    """The Alerts page's episode list: start, end or open, duration, peak."""
    listed = episodes(settings)
    st.subheader("Episodes (live, from the sentinel)")
    if listed.is_empty():
        st.caption(
            "No alert episodes yet: the sentinel (`python -m consumer.sentinel`, started by ./start.sh) "
            "writes them as conditions start and clear."
        )
        return
    shown = with_duration(listed, now=datetime.now(UTC)).select(
        "state",
        "severity",
        "device_id",
        "home_id",
        "kind",
        "started_at",
        "resolved_at",
        "duration_s",
        "peak",
        "value",
        "changes",
    )
    st.caption(
        f"{listed.height:,} episodes, {int((shown['state'] == 'open').sum()):,} open; an open episode's "
        "duration runs to now"
    )
    st.dataframe(shown, hide_index=True, key="episodes_table")
