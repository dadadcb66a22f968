"""Sidebar controls (dates, homes, device types, refresh) and the guard that turns failures into friendly messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import streamlit as st
from deltalake.exceptions import DeltaError

from config.errors import LakehouseError
from config.settings import Settings
from dashboard import data
from lake import delta_io

logger = logging.getLogger(__name__)

CONTEXT_KEY = "dashboard_context"
START_HINT = "Start the pipeline with `./start.sh` (producer → Kafka → bronze → silver → gold) and this page fills in."


@dataclass(frozen=True)
class Filters:
    """What the user selected in the sidebar."""

    dates: tuple[date, date]
    homes: tuple[str, ...]
    device_types: tuple[str, ...]
    refresh_s: float
    live_minutes: int

    @property
    def key(self) -> tuple:
        """What the data shown depends on (not the refresh interval), for cache keys."""
        return (self.dates, self.homes, self.device_types, self.live_minutes)


def sidebar(settings: Settings) -> Filters:
    """Draw the sidebar controls; their defaults come from what the lake holds (a damaged table leaves the options
    empty and says so, so every page still works)."""
    side = st.sidebar
    try:
        health = data.read_table(settings, "device_health_metrics", columns=("home_id", "device_type"))
        bounds = data.date_bounds(settings, "daily_energy_consumption")
    except LakehouseError as exc:
        side.error(delta_io.one_line(str(exc)))
        health, bounds = pl.DataFrame(), None
    today = datetime.now(UTC).date()
    oldest, newest = bounds or (today, today)
    side.header("Filters")
    picked = side.date_input(
        "Dates",
        value=(max(oldest, newest - timedelta(days=6)), newest),  # type: ignore[operator]
        min_value=oldest,
        max_value=newest,
    )
    dates = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (newest, newest)
    homes = side.multiselect("Homes", _options(health, "home_id"), placeholder="all homes")
    types = side.multiselect("Device types", _options(health, "device_type"), placeholder="all types")
    side.header("Refresh")
    refresh = side.number_input(
        "Refresh every (s)",
        min_value=1.0,
        max_value=3600.0,
        value=float(settings.dashboard_refresh_s),
        step=1.0,
        format="%g",
    )
    live = side.slider("Live window (minutes)", min_value=5, max_value=240, value=60, step=5)
    return Filters(
        dates=dates,
        homes=tuple(homes),
        device_types=tuple(types),  # type: ignore[arg-type]
        refresh_s=float(refresh),
        live_minutes=int(live),
    )


def _options(frame: pl.DataFrame, column: str) -> list[str]:
    return [] if frame.is_empty() else sorted(frame.get_column(column).drop_nulls().unique().to_list())


def remember(settings: Settings, filters: Filters | None) -> None:
    """Hand the settings and the sidebar's filters (None: no gold yet) to the page this run shows."""
    st.session_state[CONTEXT_KEY] = (settings, filters)


def run_page(render: Callable[[Settings, Filters], None], *, needs_gold: bool = True) -> None:
    """Show a page whose body re-renders itself every refresh (only the body, not the whole app)."""
    settings, filters = st.session_state[CONTEXT_KEY]
    if needs_gold and filters is None:
        _wait_for_gold(settings)
        return

    @st.fragment(run_every=filters.refresh_s if filters else settings.dashboard_refresh_s)
    def body() -> None:
        guarded(lambda: render(settings, filters))

    body()


def _wait_for_gold(settings: Settings) -> None:
    """'No data yet', re-checked every refresh: when the first gold commit lands, the whole app runs again (the
    sidebar's filters need the gold tables), so the page fills in by itself."""

    @st.fragment(run_every=settings.dashboard_refresh_s)
    def waiting() -> None:
        if data.gold_exists(settings):
            st.rerun()
        no_data(f"the lake at `{settings.lake_root}` has no gold tables")

    waiting()


def guarded(render: Callable[[], None]) -> None:
    """Run a page body; an expected failure becomes one friendly message, never a traceback."""
    try:
        render()
    except LakehouseError as exc:
        st.error(delta_io.one_line(str(exc)))
    except (DeltaError, OSError) as exc:
        logger.warning("lake read failed: %s", exc)
        st.error(
            f"The lake could not be read ({delta_io.one_line(str(exc))}). If the pipeline is writing right now, "
            "the next refresh usually succeeds; otherwise check LAKE_ROOT."
        )
    except Exception as exc:  # a dashboard page must never show a traceback: say what failed, log the rest
        logger.exception("page failed")
        st.error(
            f"This view failed ({type(exc).__name__}: {delta_io.one_line(str(exc))}); the other pages still work. "
            "Details are in the log."
        )


def no_data(what: str) -> None:
    """The friendly 'nothing here yet' message."""
    st.info(f"No data yet: {what}. {START_HINT}")


def csv_button(frame: pl.DataFrame, *, name: str, key: str) -> None:
    """A button that downloads the frame as CSV."""
    st.download_button(
        f"Download {name} (CSV)", frame.write_csv().encode(), file_name=f"{name}.csv", mime="text/csv", key=key
    )
