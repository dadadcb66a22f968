"""The dashboard's data layer on real Delta tables: partition pruning, partition values from the log, the live window."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from polars.testing import assert_frame_equal

from config.settings import Settings
from dashboard import data
from lake import delta_io, tables
from tests.dashboard import fixtures as fx


def test_read_table_keeps_only_the_selected_dates_and_columns(settings: Settings) -> None:
    fx.write_gold(settings, "alerts", fx.alert_rows())
    expected = fx.frame("alerts", fx.alert_rows())
    assert_frame_equal(data.read_table(settings, "alerts").sort("alert_time"), expected.sort("alert_time"))
    day2 = data.read_table(settings, "alerts", dates=(fx.DAY2, fx.DAY2), columns=("date", "device_id", "kind"))
    assert day2.columns == ["date", "device_id", "kind"]
    assert sorted(day2.rows()) == [(fx.DAY2, "d2", "high_power"), (fx.DAY2, "d3", "high_temperature")]
    assert data.read_table(settings, "alerts", dates=(fx.DAY2 + timedelta(days=1),) * 2).schema == expected.schema
    assert data.date_bounds(settings, "alerts") == (fx.DAY1, fx.DAY2)


def test_partition_values_come_from_the_log_even_when_percent_encoded(settings: Settings) -> None:
    frame = pl.DataFrame({"home_id": ["a b:c%", "x"], "total": [1.0, 2.0]})
    delta_io.write(tables.MONTHLY_BILLING.path(settings), frame, partition_by=["home_id"])
    assert_frame_equal(data.read_table(settings, "monthly_billing").sort("home_id"), frame)


def test_read_recent_counts_back_from_the_newest_minute(settings: Settings) -> None:
    fx.write_gold(settings, "telemetry_1min", fx.minute_rows(90))
    recent = data.read_recent(settings, "telemetry_1min", time_column="minute", minutes=30)
    newest = fx.NOW - timedelta(minutes=1)
    assert recent.height == 30 * 2
    assert recent.get_column("minute").min() == newest - timedelta(minutes=29)
    assert recent.get_column("minute").max() == newest


def test_missing_tables_are_empty_frames(settings: Settings) -> None:
    assert data.read_table(settings, "alerts").is_empty()
    assert data.read_recent(settings, "telemetry_1min", time_column="minute", minutes=5).is_empty()
    assert data.date_bounds(settings, "alerts") is None
    assert not data.gold_exists(settings)
    assert data.lake_overview(settings).get_column("version").is_null().all()
