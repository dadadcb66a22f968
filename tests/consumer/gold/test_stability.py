"""Gold on real Delta tables: identical alerts however runs split the hours, health that does not flicker, history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from polars.testing import assert_frame_equal

from common.clock import ManualClock
from consumer.gold import run as silver_to_gold
from consumer.gold.sample import gold, silver_rows, synthetic_silver, write_silver
from tests.conftest import make_settings

START = datetime(2026, 11, 18, tzinfo=UTC)
TABLES = (*silver_to_gold.DATE_TABLES, "device_health_metrics")
# a steady fleet: (device, type, metric, constant value)
FLEET = (
    ("b1", "smart_bulb", "power_w", 0.30),
    ("p1", "smart_plug", "power_w", 60.0),
    ("t1", "thermostat", "temperature_c", 21.0),
    ("m1", "energy_meter", "power_w", 180.0),
    ("e1", "environment_sensor", "temperature_c", 19.5),
)
FLEET_IDS = [device for device, *_ in FLEET]  # the shipped catalog's devices are in the health table too (offline)


def spiky_silver() -> pl.DataFrame:
    """Three hours of 20 devices with a 9 kW spike now and then: alerts and anomalies in every hour."""
    rows = synthetic_silver(6_000, start=START, days=3 / 24, devices=20)
    spike = (pl.col("seq") % 97 == 0) & pl.col("device_type").is_in(["smart_plug", "energy_meter", "smart_bulb"])
    return rows.with_columns(power_w=pl.when(spike).then(9_000.0).otherwise(pl.col("power_w")))


def test_same_silver_gives_the_same_gold_in_one_run_or_in_many(tmp_path):
    silver, clock = spiky_silver(), ManualClock(START + timedelta(hours=3))
    once, split = make_settings(LAKE_ROOT=tmp_path / "once"), make_settings(LAKE_ROOT=tmp_path / "split")
    write_silver(once, silver)
    silver_to_gold.run(once, clock=clock)
    hour = pl.col("event_time").dt.hour()
    # the last hour first, then the first, then the middle one (late: its next hour must be re-assessed), in
    # pieces whose row order is reversed
    for part in (silver.filter(hour == 2), silver.filter(hour == 0), silver.filter(hour == 1).reverse()):
        for piece in part.iter_slices(700):
            write_silver(split, piece)
            silver_to_gold.run(split, clock=clock)
    alerts = gold(once, "alerts")
    assert alerts.filter(pl.col("kind") == "power_anomaly").height > 10
    for table in TABLES:
        assert_frame_equal(gold(split, table), gold(once, table))


def steady_readings(since: datetime, until: datetime) -> pl.DataFrame:
    """The steady fleet's readings with since < event_time ≤ until: every 10 s, device k at phase k seconds."""
    rows = []
    t = since.replace(second=0, microsecond=0)
    while t <= until:
        for k, (device, kind, metric, value) in enumerate(FLEET):
            at = t + timedelta(seconds=k)
            if since < at <= until:
                rows.append(
                    {
                        "event_time": f"{at:%Y-%m-%d %H:%M:%S}",
                        "event_id": f"{device}-{at:%H%M%S}",
                        "device_id": device,
                        "device_type": kind,
                        metric: value,
                        "energy_wh": 0.01,
                    }
                )
        t += timedelta(seconds=10)
    return silver_rows(rows)


def test_a_steady_fleet_keeps_its_health_over_ten_runs(settings):
    """Runs every 37 s (so they land at every phase of a minute), silver 3 s behind the clock: nothing flickers."""
    clock = ManualClock(START + timedelta(minutes=40, seconds=5))
    write_silver(settings, steady_readings(START - timedelta(seconds=1), clock.now() - timedelta(seconds=3)))
    shown = []
    for _ in range(10):
        silver_to_gold.run(settings, clock=clock)
        health = gold(settings, "device_health_metrics").filter(pl.col("device_id").is_in(FLEET_IDS)).sort("device_id")
        shown.append(
            health.select(
                "device_id", "uptime_pct", "alert_rate", "anomaly_rate", "health_score", "failure_risk", "status"
            )
        )
        seen_until = clock.now() - timedelta(seconds=3)
        clock.advance(37)
        write_silver(settings, steady_readings(seen_until, clock.now() - timedelta(seconds=3)))
    for frame in shown:
        assert_frame_equal(frame, shown[0])
    assert shown[0]["status"].to_list() == ["healthy"] * len(FLEET)
    assert shown[0]["uptime_pct"].to_list() == [100.0] * len(FLEET)
    assert shown[0]["health_score"].to_list() == [100.0] * len(FLEET)
    assert gold(settings, "alerts").is_empty()


def test_a_replay_of_2007_fills_its_minutes_and_is_judged_against_its_own_time(settings):
    replay = datetime(2007, 3, 1, tzinfo=UTC)
    old = steady_readings(replay - timedelta(days=20), replay - timedelta(days=20) + timedelta(minutes=5))
    recent = steady_readings(replay - timedelta(seconds=1), replay + timedelta(hours=2, seconds=-1))
    write_silver(settings, pl.concat([old, recent]))
    silver_to_gold.run(settings, clock=ManualClock(datetime(2026, 11, 30, 12, tzinfo=UTC)))
    minutes = gold(settings, "telemetry_1min")
    # retention counts 7 days back from the newest data (2007-03-01), so the spell 20 days earlier is not kept
    assert minutes["date"].unique().to_list() == [date(2007, 3, 1)]
    assert minutes.height == len(FLEET) * 120
    health = gold(settings, "device_health_metrics").filter(pl.col("device_id").is_in(FLEET_IDS))
    assert health["status"].unique().to_list() == ["healthy"]
    assert health["last_seen"].max() == replay + timedelta(hours=1, minutes=59, seconds=54)  # health's moment
    assert health["uptime_pct"].unique().to_list() == [100.0]
