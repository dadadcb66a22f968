"""The dashboard's pure computations (dashboard.metrics) on hand-made frames, with exact expected results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from polars.testing import assert_frame_equal

from dashboard import metrics
from tests.dashboard import fixtures as fx


def test_kpis_for_a_day_against_the_day_before() -> None:
    energy = fx.frame("daily_energy_consumption", fx.energy_rows())
    homes = fx.frame("daily_home_summary", fx.summary_rows()[0])
    alerts = fx.frame("alerts", fx.alert_rows())
    cards = {k.label: (k.value, k.previous) for k in metrics.kpis(energy, homes, alerts, fx.DAY2)}
    assert cards["Energy (kWh)"] == (8.0, 6.5)
    assert cards["Active devices"] == (3.0, 4.0)
    assert cards["Avg health"] == (70.0, 75.0)
    assert cards["Alerts"] == (2.0, 1.0)  # rows of the alerts table that day, as the Alerts page counts them
    first_day = {k.label: k.delta for k in metrics.kpis(energy, homes, alerts, fx.DAY1)}
    assert set(first_day.values()) == {None}


def test_homes_map_colours_a_home_by_its_worst_device() -> None:
    health = fx.frame("device_health_metrics", fx.health_rows())
    expected = pl.DataFrame(
        {
            "home_id": ["h1", "h2"],
            "home_name": ["Home One", "Home Two"],
            "latitude": [52.52, 48.14],
            "longitude": [13.40, 11.58],
            "devices": [2, 2],
            "healthy": [1, 0],
            "attention": [1, 0],
            "offline": [0, 1],
            "critical": [0, 1],
            "avg_health": [82.5, 42.5],
            "worst_status": ["attention", "critical"],
        },
        schema_overrides={
            "devices": pl.UInt32,
            "healthy": pl.UInt32,
            "attention": pl.UInt32,
            "offline": pl.UInt32,
            "critical": pl.UInt32,
        },
    )
    assert_frame_equal(metrics.homes_map(health), expected, check_column_order=False)


def test_offline_ranks_below_critical_and_homes_without_position_are_left_out() -> None:
    rows = fx.health_rows()
    rows[0] |= {"home_id": "h9", "status": "offline", "latitude": None}
    rows[1] |= {"home_id": "h8", "status": "offline"}
    homes = metrics.homes_map(fx.frame("device_health_metrics", rows))
    assert homes.select("home_id", "worst_status").rows() == [("h2", "critical"), ("h8", "offline")]


def test_quarantine_by_rule_leaves_out_warn_rules() -> None:
    quality = fx.frame("data_quality_daily", fx.quality_rows())
    expected = pl.DataFrame(
        {
            "date": [fx.DAY1, fx.DAY1, fx.DAY2],
            "rule": ["invalid_json", "unknown_device", "invalid_json"],
            "rows": [3, 2, 5],
        }
    )
    assert_frame_equal(metrics.quarantine_by_rule(quality), expected)


def test_operational_share_and_latest_day() -> None:
    health = fx.frame("device_health_metrics", fx.health_rows())
    assert metrics.operational_pct(health) == 50.0
    assert metrics.operational_pct(health.clear()) is None
    energy = fx.frame("daily_energy_consumption", fx.energy_rows())
    assert metrics.latest_day(energy) == fx.DAY2
    assert metrics.latest_day(energy, until=date(2026, 11, 19)) == fx.DAY1
    assert metrics.latest_day(energy.clear()) is None


def test_history_and_health_notes_say_what_the_numbers_are_relative_to() -> None:
    assert metrics.history_note(date(2026, 11, 30), date(2026, 11, 30)) is None
    assert metrics.history_note(None, date(2026, 11, 30)) is None
    assert metrics.history_note(date(2007, 3, 1), date(2026, 11, 30)) == (
        "Today (2026-11-30, UTC) has no data: the dashboard opened on 2007-03-01, the latest day with data."
    )
    health = fx.frame("device_health_metrics", fx.health_rows())
    assert metrics.health_as_of(health) == fx.NOW  # the newest last_seen, not after computed_at
    assert metrics.health_as_of(
        health.with_columns(computed_at=pl.lit(fx.NOW - timedelta(minutes=5)))
    ) == fx.NOW - timedelta(minutes=5)
    as_of = datetime(2007, 3, 1, 1, 59, 54, tzinfo=UTC)
    live = metrics.health_note(as_of, as_of + timedelta(seconds=20), silent_after_s=300)
    assert live == "Device health as of 2007-03-01 01:59:54 UTC, the fleet's newest reading."
    stale = metrics.health_note(as_of, as_of + timedelta(seconds=301), silent_after_s=300)
    assert stale is not None and stale.startswith(live) and "No reading has arrived since" in stale
