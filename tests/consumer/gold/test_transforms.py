"""Every gold column against values computed by hand on a tiny silver frame (see the comments for the sums)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from consumer.gold import rollups as gr
from consumer.gold import transforms as gt
from consumer.gold.health import device_health_metrics
from consumer.gold.sample import quarantine_rows, silver_rows, ts
from lake import tables

D20, D21, D22 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
PARAMS = gt.GoldParams(offline_after_s=120.0)

# Day 20: fleet readings span minutes 10:00..10:03: 3 completed minutes (10:03 is the newest). Day 21: one reading.
# Limits (config/device_types.toml): smart_plug power 3000 W; thermostat 10..30 °C. No device has the ten readings in
# its trailing hour that an anomaly verdict needs (anomalies: tests below).
SILVER = silver_rows(
    [
        {"event_time": "2026-11-20 10:00:00", "device_id": "p1", "power_w": 100.0, "energy_wh": 1500.0},
        {
            "event_time": "2026-11-20 10:00:30",
            "device_id": "p1",
            "power_w": 3000.0,
            "energy_wh": 250.0,
            "alert": "high_power",
            "warnings": ["w1"],
        },
        {
            "event_time": "2026-11-20 10:02:10",
            "device_id": "p1",
            "power_w": 50.0,
            "energy_wh": 125.0,
            "status": "error",
        },
        {
            "event_time": "2026-11-20 10:00:05",
            "device_id": "t1",
            "device_type": "thermostat",
            "temperature_c": 31.0,
            "power_w": 20.0,
            "energy_wh": 500.0,
        },
        {
            "event_time": "2026-11-20 10:03:59",
            "device_id": "t1",
            "device_type": "thermostat",
            "temperature_c": 9.5,
            "power_w": 10.0,
            "energy_wh": 200.0,
        },
        {
            "event_time": "2026-11-20 10:01:00",
            "device_id": "p2",
            "home_id": "h2",
            "power_w": 5.0,
            "energy_wh": 10.0,
            "status": "maintenance",
        },
        {"event_time": "2026-11-21 00:00:10", "device_id": "p1", "power_w": 200.0, "energy_wh": 2000.0},
    ]
)
QUARANTINE = quarantine_rows(
    [("2026-11-20 11:00:00", ["bad_json"]), ("2026-11-22 09:00:00", ["unknown_device", "value_in_range"])]
)


def frame(table: str, rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=tables.get(f"gold/{table}").schema, orient="row")


@pytest.fixture(scope="module")
def days() -> pl.DataFrame:
    return gr.device_days(gt.device_hourly(gt.assess(SILVER, PARAMS)))


def test_device_hourly():
    # p1's day-20 hour: power sum 3150 over 3, temperature never measured (sum 0 over 0), online minutes {10:00},
    # one error reading (10:02:10), so its last online reading is 10:00:30; the device flagged one high_power alert
    hourly = gt.device_hourly(gt.assess(SILVER, PARAMS)).filter(device_id="p1")
    h10, h0 = ts("2026-11-20 10:00:00"), ts("2026-11-21 00:00:00")
    expected = pl.DataFrame(
        [
            (
                D20,
                h10,
                "h1",
                "Home One",
                "p1",
                "smart_plug",
                "kitchen",
                1_875_000_000,
                3,
                3150.0,
                3,
                3000.0,
                0.0,
                0,
                None,
                None,
                1,
                1,
                0,
                1,
                1,
                ts("2026-11-20 10:00:00"),
                ts("2026-11-20 10:02:10"),
                ts("2026-11-20 10:00:30"),
            ),
            (
                D21,
                h0,
                "h1",
                "Home One",
                "p1",
                "smart_plug",
                "kitchen",
                2_000_000_000,
                1,
                200.0,
                1,
                200.0,
                0.0,
                0,
                None,
                None,
                1,
                0,
                0,
                0,
                0,
                ts("2026-11-21 00:00:10"),
                ts("2026-11-21 00:00:10"),
                ts("2026-11-21 00:00:10"),
            ),
        ],
        schema=tables.DEVICE_HOURLY.schema,
        orient="row",
    )
    assert_frame_equal(hourly, expected)
    assert_frame_equal(
        gt.quality_hourly(SILVER),
        pl.DataFrame([(D20, h10, "w1", 1)], schema=tables.QUALITY_HOURLY.schema, orient="row"),
    )


def test_a_device_moved_to_another_room_is_shown_where_it_was_last_seen():
    moved = silver_rows(
        [
            {"event_time": "2026-11-20 10:30:00", "device_id": "p1", "location": "garage"},
            {"event_time": "2026-11-20 10:10:00", "device_id": "p1", "location": "kitchen"},
        ]
    )
    assert gt.device_hourly(gt.assess(moved, PARAMS))["location"].to_list() == ["garage"]


def test_daily_energy_consumption(days):
    # p1 day 20: 1500 + 250 + 125 Wh = 1.875 kWh × 0.30 = 0.5625; power (100+3000+50)/3 = 1050; online minutes
    # {10:00} of the 3 completed (10:00, 10:01, 10:02) = 33.3 %; alerts: the high_power event. t1: 0.7 kWh;
    # temperatures 31 and 9.5 both breach a thermostat limit; online {10:00, 10:03}, 10:03 not completed: 1 of 3.
    # p2 is in maintenance: 0 % uptime. Day 21 has a single minute: 100 % for the device seen.
    expected = frame(
        "daily_energy_consumption",
        [
            (D20, "h1", "p1", "smart_plug", 1.875, 0.5625, 1050.0, 3000.0, None, None, None, 3, 100 / 3, 1),
            (D20, "h1", "t1", "thermostat", 0.7, 0.21, 15.0, 20.0, 20.25, 9.5, 31.0, 2, 100 / 3, 2),
            (D20, "h2", "p2", "smart_plug", 0.01, 0.003, 5.0, 5.0, None, None, None, 1, 0.0, 0),
            (D21, "h1", "p1", "smart_plug", 2.0, 0.6, 200.0, 200.0, None, None, None, 1, 100.0, 0),
        ],
    )
    assert_frame_equal(gr.daily_energy_consumption(days, PARAMS), expected)


def test_device_day_health_score(days):
    # 100 × (0.4·u + 0.2·(1 − alert rate) + 0.2·(1 − anomaly rate) + 0.2·quality rate)
    # p1/20: 0.4/3 + 0.2·2/3 + 0.2 + 0.2·2/3 = 0.6 → 60
    # t1/20: 0.4/3 + 0 + 0.2 + 0.2 = 53.33; p2/20: 0 + 0.2 + 0.2 + 0.2 = 60; p1/21: 100
    scores = days.sort("date", "device_id").select("device_id", "health_score")
    assert_frame_equal(
        scores, pl.DataFrame({"device_id": ["p1", "p2", "t1", "p1"], "health_score": [60.0, 60.0, 160 / 3, 100.0]})
    )


def test_daily_home_and_business_summary(days):
    homes = frame(
        "daily_home_summary",
        [
            (D20, "h1", "Home One", 2.575, 0.7725, 2, (60 + 160 / 3) / 2, 3, 5),
            (D20, "h2", "Home Two", 0.01, 0.003, 1, 60.0, 0, 1),
            (D21, "h1", "Home One", 2.0, 0.6, 1, 100.0, 0, 1),
        ],
    )
    assert_frame_equal(gr.daily_home_summary(days, PARAMS), homes)
    business = frame(
        "daily_business_summary",
        [
            (D20, 2.585, 0.7755, 3, (60 + 60 + 160 / 3) / 3, 3, 6, 1),
            (D21, 2.0, 0.6, 1, 100.0, 0, 1, 0),
            (D22, 0.0, 0.0, 0, None, 0, 0, 1),  # only quarantined records that day
        ],
    )
    assert_frame_equal(gr.daily_business_summary(days, gr.quarantined_per_day(QUARANTINE), PARAMS), business)


def test_telemetry_1min():
    expected = frame(
        "telemetry_1min",
        [
            (ts("2026-11-20 10:00:00"), D20, 10, "h1", "p1", "smart_plug", None, 1550.0, 1750.0, 2),
            (ts("2026-11-20 10:00:00"), D20, 10, "h1", "t1", "thermostat", 31.0, 20.0, 500.0, 1),
            (ts("2026-11-20 10:01:00"), D20, 10, "h2", "p2", "smart_plug", None, 5.0, 10.0, 1),
            (ts("2026-11-20 10:02:00"), D20, 10, "h1", "p1", "smart_plug", None, 50.0, 125.0, 1),
            (ts("2026-11-20 10:03:00"), D20, 10, "h1", "t1", "thermostat", 9.5, 10.0, 200.0, 1),
            (ts("2026-11-21 00:00:00"), D21, 0, "h1", "p1", "smart_plug", None, 200.0, 2000.0, 1),
        ],
    )
    assert_frame_equal(gt.telemetry_1min(SILVER).sort("minute", "device_id"), expected)


def test_alerts():
    # p1's 3000 W is not above its plug limit (3000 W) but the device flagged high_power itself
    expected = frame(
        "alerts",
        [
            (
                ts("2026-11-20 10:00:05"),
                D20,
                "h1",
                "t1",
                "thermostat",
                "high_temperature",
                31.0,
                30.0,
                "critical",
                "e000003",
            ),
            (
                ts("2026-11-20 10:00:30"),
                D20,
                "h1",
                "p1",
                "smart_plug",
                "high_power",
                3000.0,
                3000.0,
                "critical",
                "e000001",
            ),
            (
                ts("2026-11-20 10:03:59"),
                D20,
                "h1",
                "t1",
                "thermostat",
                "low_temperature",
                9.5,
                10.0,
                "warning",
                "e000004",
            ),
        ],
    )
    assert_frame_equal(gt.alerts(gt.assess(SILVER, PARAMS)), expected)


def test_monthly_billing():
    # h1: 1.875 + 0.7 + 2.0 = 4.575 kWh × 0.30 = 1.3725 → 1.37 + 9.90 = 11.27; h2: 0.01 kWh → 0.00 + 9.90
    hourly = gt.device_hourly(gt.assess(SILVER, PARAMS))
    expected = frame(
        "monthly_billing",
        [
            (date(2026, 11, 1), "h1", 4.575, 0.3, 1.37, 9.9, 11.27, "EUR"),
            (date(2026, 11, 1), "h2", 0.01, 0.3, 0.0, 9.9, 9.9, "EUR"),
        ],
    )
    assert_frame_equal(gr.monthly_billing(hourly, PARAMS), expected)


def test_data_quality_daily():
    expected = frame(
        "data_quality_daily",
        [
            (D20, "bad_json", "quarantine", 1),
            (D20, "w1", "warn", 1),
            (D22, "unknown_device", "quarantine", 1),
            (D22, "value_in_range", "quarantine", 1),
        ],
    )
    assert_frame_equal(gr.data_quality_daily(gt.quality_hourly(SILVER), QUARANTINE), expected)


def test_device_health_metrics():
    # now 10:04:30; health is as of the fleet's newest reading, 10:03:59, so the completed minutes are
    # 10:00, 10:01, 10:02 (the window starts at the fleet's first reading): 3 expected minutes.
    # p1: uptime 1/3, alert 1/3, anomaly 0, quality 2/3, error 1/3: score 100·(0.4/3 + 0.2·2/3 + 0.2 + 0.2·2/3) = 60;
    #   risk 0.4·2/3 + 0.3/3 + 0.3/3 = 0.4667 → attention
    # t1: online 10:00 and 10:03 (running, not counted): uptime 1/3, alert 1, anomaly 0, quality 1:
    #   score 100·(0.4/3 + 0 + 0.2 + 0.2) = 53.33; risk 0.4·2/3 + 0.3 = 0.5667 → attention
    # p2: silent 179 s before 10:03:59 > 120 s → offline (score 60, risk 0.4); c9: never seen → score 0, risk 1
    now = ts("2026-11-20 10:04:30")
    window = gt.device_hourly(gt.assess(SILVER.filter(pl.col("event_date") == D20), PARAMS))
    catalog = pl.DataFrame(
        {
            "device_id": ["c9", "p1"],
            "device_type": ["thermostat", "smart_plug"],
            "home_id": ["h2", "h1"],
            "home_name": ["Home Two", "Home One"],
            "location": ["bedroom", "office"],
            "latitude": [53.5, 52.5],
            "longitude": [9.9, 13.4],
        }
    )
    expected = pl.DataFrame(
        [
            (
                "c9",
                "thermostat",
                "h2",
                "Home Two",
                53.5,
                9.9,
                "bedroom",
                0,
                0.0,
                None,
                None,
                None,
                None,
                0.0,
                1.0,
                "offline",
                now,
            ),
            (
                "p1",
                "smart_plug",
                "h1",
                "Home One",
                52.5,
                13.4,
                "office",
                3,
                100 / 3,
                1 / 3,
                0.0,
                2 / 3,
                ts("2026-11-20 10:02:10"),
                60.0,
                0.4 * 2 / 3 + 0.2,
                "attention",
                now,
            ),
            (
                "p2",
                "smart_plug",
                "h2",
                "Home Two",
                None,
                None,
                "kitchen",
                1,
                0.0,
                0.0,
                0.0,
                1.0,
                ts("2026-11-20 10:01:00"),
                60.0,
                0.4,
                "offline",
                now,
            ),
            (
                "t1",
                "thermostat",
                "h1",
                "Home One",
                None,
                None,
                "kitchen",
                2,
                100 / 3,
                1.0,
                0.0,
                1.0,
                ts("2026-11-20 10:03:59"),
                160 / 3,
                0.4 * 2 / 3 + 0.3,
                "attention",
                now,
            ),
        ],
        schema=tables.DEVICE_HEALTH.schema,
        orient="row",
    )
    result = device_health_metrics(window, catalog, PARAMS, now=now, window=timedelta(hours=24))
    assert_frame_equal(result, expected)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3 * 86400 - 1), st.integers(0, 5_000_000)), min_size=1, max_size=60
    )
)
def test_energy_adds_up_exactly_at_every_grain(readings):
    """µWh totals of minute, device-day and home-month rows equal silver's, whatever the grouping."""
    rows = silver_rows(
        [
            {
                "event_time": f"2026-11-{20 + s // 86400} {s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}",
                "device_id": f"d{d}",
                "energy_wh": e / 1000,
                "power_w": 1.0,
            }
            for d, s, e in readings
        ]
    )
    silver_uwh = rows.select(gt.micro_wh()).to_series().sum()
    hourly = gt.device_hourly(gt.assess(rows, gt.GoldParams()))
    assert hourly["energy_uwh"].sum() == silver_uwh
    daily = gr.daily_energy_consumption(gr.device_days(hourly), gt.GoldParams())
    to_uwh = (pl.col("energy_kwh") * gt.UWH_PER_KWH).round().cast(pl.Int64)
    assert daily.select(to_uwh).to_series().sum() == silver_uwh
    assert gr.monthly_billing(hourly, gt.GoldParams()).select(to_uwh).to_series().sum() == silver_uwh
    minute_uwh = gt.telemetry_1min(rows).select((pl.col("energy_wh") * gt.UWH_PER_WH).round().cast(pl.Int64))
    assert minute_uwh.to_series().sum() == silver_uwh
