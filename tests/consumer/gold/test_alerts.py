"""Alerts and anomalies: per-type limits from config/device_types.toml, and the trailing robust anomaly band."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from config.alert_rules import limits_frame
from config.catalog import device_types
from config.errors import ConfigError
from consumer.gold import transforms as gt
from consumer.gold.sample import silver_rows
from lake import tables

PARAMS = gt.GoldParams()
START = datetime(2026, 11, 20, 8, tzinfo=UTC)


def series(
    device_type: str, values: list[float], *, step_s: int = 10, metric: str = "power_w", device_id: str = "d1"
) -> pl.DataFrame:
    """One device's readings of `metric`, every `step_s` seconds from START."""
    return silver_rows(
        [
            {
                "event_time": f"{START + timedelta(seconds=i * step_s):%Y-%m-%d %H:%M:%S}",
                "event_id": f"{device_id}-{i}",
                "device_id": device_id,
                "device_type": device_type,
                metric: value,
            }
            for i, value in enumerate(values)
        ]
    )


def anomalies(silver: pl.DataFrame) -> pl.DataFrame:
    return gt.alerts(gt.assess(silver, PARAMS)).filter(pl.col("kind").str.ends_with("_anomaly"))


def test_a_constant_bulb_for_hours_has_no_anomaly():
    # 0.30 W every 10 s for 3 hours, stored as it comes out of float arithmetic (0.1 + 0.2 and 0.3 alternate):
    # the spread is ~1e-17 W, far below the bulb's minimum meaningful deviation (5 W)
    values = [0.1 + 0.2 if i % 2 else 0.3 for i in range(3 * 360)]
    readings = gt.assess(series("smart_bulb", values), PARAMS)
    assert readings["anomalous"].sum() == 0
    assert anomalies(series("smart_bulb", values)).is_empty()
    assert gt.device_hourly(readings)["anomalies"].to_list() == [0, 0, 0]


def test_a_real_jump_is_flagged_against_the_previous_hour():
    # a whole-home meter at 180 W for an hour (minute readings), then 2,000 W (within its 3,000 W floor) and 9,000 W:
    # median 180, IQR 0, band 180 ± max(3·0, 3000) → only the 9,000 W reading is an anomaly, with the bound it
    # crossed, 3,180 W
    silver = series("energy_meter", [180.0] * 60 + [2000.0, 9000.0], step_s=60)
    expected = pl.DataFrame(
        [
            (
                START + timedelta(minutes=61),
                START.date(),
                "h1",
                "d1",
                "energy_meter",
                "power_anomaly",
                9000.0,
                3180.0,
                "warning",
                "d1-61",
            )
        ],
        schema=tables.ALERTS.schema,
        orient="row",
    )
    assert_frame_equal(anomalies(silver), expected)


def test_too_short_a_history_gives_no_verdict():
    # nine readings in the previous hour are fewer than the ten a baseline needs; ten are enough
    assert anomalies(series("energy_meter", [180.0] * 9 + [9000.0], step_s=400)).is_empty()
    assert anomalies(series("energy_meter", [180.0] * 10 + [9000.0], step_s=360)).height == 1


def test_the_baseline_is_the_previous_hour_only():
    # an hour of readings, a silent hour, then a jump: the silent hour is no baseline, so no verdict
    steady = series("energy_meter", [180.0] * 60, step_s=60)
    jump = series("energy_meter", [9000.0], step_s=60).with_columns(
        event_time=pl.lit(START + timedelta(hours=2)), event_id=pl.lit("d1-jump")
    )
    assert anomalies(pl.concat([steady, jump])).is_empty()


@settings(max_examples=60, deadline=None)
@given(
    device_type=st.sampled_from(["smart_bulb", "smart_plug", "thermostat", "energy_meter"]),
    base=st.floats(0.0, 1000.0),
    noise=st.lists(st.floats(0.0, 0.99), min_size=1, max_size=400),
    step_s=st.integers(1, 120),
    seed=st.randoms(use_true_random=False),
)
def test_a_near_constant_series_is_never_flagged_in_any_order(device_type, base, noise, step_s, seed):
    """Values whose spread is below the type's minimum deviation are never an anomaly, whatever their order."""
    floor = device_types()[device_type].anomaly["power_w"]
    silver = series(device_type, [base + n * floor for n in noise], step_s=step_s)
    assert anomalies(silver).is_empty()
    rows = silver.rows()
    seed.shuffle(rows)
    shuffled = pl.DataFrame(rows, schema=silver.schema, orient="row")
    assert_frame_equal(gt.assess(shuffled, PARAMS).sort("event_id"), gt.assess(silver, PARAMS).sort("event_id"))


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.sampled_from([10.0, 12.0, 15.0, 400.0, 2500.0]), min_size=30, max_size=300),
    split=st.integers(1, 2),
)
def test_an_hour_assessed_alone_equals_the_same_hour_assessed_with_everything(values, split):
    """Flags of an hour depend only on that hour and the one before: reading more hours changes nothing."""
    silver = series("smart_plug", values, step_s=60)
    hours = sorted(set(silver["event_time"].dt.truncate("1h")))
    if split >= len(hours):
        return
    hour = hours[split]
    context = silver.filter(
        pl.col("event_time").is_between(hour - timedelta(hours=1), hour + timedelta(hours=1), closed="left")
    )
    alone = gt.alerts(gt.assess(context, PARAMS, hours=[hour]))
    everything = gt.alerts(gt.assess(silver, PARAMS)).filter(pl.col("alert_time").dt.truncate("1h") == hour)
    assert_frame_equal(alone, everything)


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.sampled_from([10.0, 12.0, 15.0, 400.0, 2500.0]), min_size=30, max_size=300),
    judged=st.sets(st.integers(0, 6), min_size=1),
)
def test_judging_some_hours_computes_the_same_bands_as_judging_all(values, judged):
    """An incremental run judges its hours and the next (often still empty): only the bands of the hours that hold
    readings are computed, and every judged reading gets the same band and flags as when every hour is judged."""
    silver = series("smart_plug", values, step_s=60)
    hours = [START + timedelta(hours=h) for h in sorted(judged)]
    some = gt.assess(silver, PARAMS, hours=hours)
    every = gt.assess(silver, PARAMS).filter(pl.col("hour").is_in(hours))
    assert_frame_equal(some.sort("event_id"), every.sort("event_id"))


def test_power_limits_are_per_device_type():
    # 5 kW is an evening for a whole-home meter, a fault for a plug; thermostats heat up to 4.5 kW
    silver = pl.concat(
        [
            series("energy_meter", [5000.0, 16000.0], device_id="m1"),
            series("smart_plug", [3500.0], device_id="p1"),
            series("thermostat", [3000.0], device_id="t1"),
        ]
    )
    fired = gt.alerts(gt.assess(silver, PARAMS)).select("device_id", "kind", "value", "threshold", "severity")
    assert fired.sort("device_id").rows() == [
        ("m1", "high_power", 16000.0, 15000.0, "critical"),
        ("p1", "high_power", 3500.0, 3000.0, "critical"),
    ]


def test_limits_frame_is_the_toml():
    limits = limits_frame().filter(device_type="energy_meter").row(0, named=True)
    assert limits == {
        "device_type": "energy_meter",
        "temperature_low_c": None,
        "temperature_high_c": None,
        "power_high_w": 15000.0,
        "co_high_ppm": None,
        "smoke_high_ppm": None,
        "temperature_c_min_dev": None,
        "power_w_min_dev": 3000.0,
    }
    assert set(limits_frame()["device_type"]) == set(device_types())


def test_an_unknown_limit_is_a_config_error(tmp_path: Path):
    path = tmp_path / "types.toml"
    path.write_text('[smart_plug]\nmetrics = ["power_w"]\n[smart_plug.alerts]\npower_hi_w = 1.0\n')
    with pytest.raises(ConfigError, match=r"\[smart_plug.alerts\] has unknown keys \['power_hi_w'\]"):
        device_types(path)
