"""Replay of a multi-device file unlike the shipped one, checked against pandas on the raw file. No broker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pytest

from producer import replay
from producer.encode import encode
from producer.simulator import DeviceCursor
from tests.producer.fixtures import validator
from tests.producer.replay_fixture import oracle, write_fixture


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    csv, mapping = write_fixture(tmp_path_factory.mktemp("replay"))
    readings = replay.readings(csv, replay.load_config(mapping))
    devices = replay.devices(readings)
    cursor = DeviceCursor(np.zeros(devices.height, np.int64), np.full(devices.height, -1, np.int64))
    return csv, devices, replay.to_events(readings, devices["device_id"].to_list(), cursor)


def test_energy_and_readings_per_device_and_day_equal_pandas_on_the_raw_file(fixture) -> None:
    csv, _, events = fixture
    distinct = events.unique("event_id", keep="first", maintain_order=True)  # what silver keeps
    got = (
        distinct.group_by("device_id", pl.from_epoch("ts_ms", time_unit="ms").dt.date().alias("date"))
        .agg(pl.len().cast(pl.Int64).alias("readings"), pl.col("energy_wh").sum())
        .sort("device_id", "date")
        .to_pandas()
    )
    got["date"] = got["date"].dt.date
    expected = oracle(csv)
    assert len(expected) == 14 and expected["energy_wh"].sum() > 50_000
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=0, atol=1e-6)


def test_one_mapping_registers_every_device_with_its_own_type_and_home(fixture) -> None:
    _, devices, _ = fixture
    assert devices.select("device_id", "device_type", "home_id", "location").rows() == [
        ("fx_meter_1", "energy_meter", "H1", "Keller"),
        ("fx_plug_1", "smart_plug", "H1", "Kueche"),
        ("fx_plug_2", "smart_plug", "H2", "Buero"),
        ("fx_sensor_1", "environment_sensor", "H2", "Wohnzimmer"),
        ("fx_sensor_2", "environment_sensor", "H1", "Schlafzimmer"),
        ("fx_thermo_1", "thermostat", "H1", "Bad"),
        ("fx_thermo_2", "thermostat", "H2", "Flur"),
    ]
    assert set(devices["manufacturer"]) == {"Fixture GmbH"} and devices["latitude"].is_null().all()
    assert set(devices["installation_date"].cast(pl.String)) == {"2025-10-25"}  # unknown: the first reading's day


def test_events_carry_mapped_status_alert_and_only_their_types_metrics(fixture) -> None:
    _, _, events = fixture
    assert events.group_by("status").len().sort("status").rows() == [("error", 7), ("maintenance", 7), ("online", 386)]
    assert events.filter(pl.col("alert").is_not_null())["alert"].unique().to_list() == ["high_temperature"]
    sensors = events.filter(pl.col("device_type") == "environment_sensor")
    assert sensors["power_w"].is_null().all() and sensors["energy_wh"].is_null().all()
    assert sensors["motion"].sum() == 2 * 9 and sensors["temperature_c"].min() == 21.0
    plugs = events.filter(pl.col("device_type") == "smart_plug")
    assert plugs["temperature_c"].is_null().all() and plugs["power_w"].max() <= 2500.0
    for value in encode(events)[2]:
        validator().validate(orjson.loads(value))


def test_daylight_saving_fold_keeps_both_passes_and_a_repeated_row_is_the_same_event(fixture) -> None:
    _, _, events = fixture
    sensor = events.filter(pl.col("device_id") == "fx_sensor_1")
    assert sensor.height == 60 and sensor["ts_ms"].is_unique().all()
    assert sensor["ts_ms"].diff().drop_nulls().max() < 11 * 60_000  # no hour jumps back or forth at the fold
    repeated = events.filter(pl.col("event_id").is_duplicated())
    assert repeated.height == 2
    assert repeated.drop("seq").unique().height == 1  # same id, same content: a duplicate downstream


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2025-03-30 01:59:00", "2025-03-30T00:59:00.000Z"),
        ("2025-03-30 02:30:00", "2025-03-30T01:30:00.000Z"),  # the skipped hour: read on the old offset
        ("2025-03-30 03:00:00", "2025-03-30T01:00:00.000Z"),
    ],
)
def test_a_local_time_the_clock_skips_is_read_on_the_offset_before_the_change(
    tmp_path: Path, local: str, utc: str
) -> None:
    (tmp_path / "t.csv").write_text(f"at,w\n{local},5\n", encoding="utf-8")
    (tmp_path / "t.toml").write_text(
        '[time]\ncolumn = "at"\ntimezone = "Europe/Berlin"\n[device]\nid = "x"\n'
        'device_type = "smart_plug"\nhome_id = "h"\n[metrics]\npower_w = "w"\n',
        encoding="utf-8",
    )
    readings = replay.readings(tmp_path / "t.csv", replay.load_config(tmp_path / "t.toml"))
    events = replay.to_events(readings, ["x"], DeviceCursor(np.zeros(1, np.int64), np.full(1, -1, np.int64)))
    assert events["timestamp"].to_list() == [utc]


def test_a_meter_mapped_as_per_interval_energy_is_flagged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = "\n".join(f"2025-01-01 00:{m:02d}:00,{1000 + 3 * m}" for m in range(30))
    (tmp_path / "m.csv").write_text(f"at,kwh\n{rows}\n", encoding="utf-8")
    mapping = (
        '[time]\ncolumn = "at"\n[device]\nid = "m"\ndevice_type = "energy_meter"\nhome_id = "h"\n'
        '[metrics]\nenergy_wh = { column = "kwh", scale = 1000.0%s }\n'
    )
    (tmp_path / "m.toml").write_text(mapping % "", encoding="utf-8")
    with caplog.at_level("WARNING", logger="producer.replay"):
        replay.readings(tmp_path / "m.csv", replay.load_config(tmp_path / "m.toml"))
    assert "the energy of m only ever rises: a cumulative meter?" in caplog.text
    caplog.clear()
    (tmp_path / "m.toml").write_text(mapping % ', kind = "cumulative"', encoding="utf-8")
    readings = replay.readings(tmp_path / "m.csv", replay.load_config(tmp_path / "m.toml"))
    assert not caplog.text and readings["energy_wh"].to_list() == [0.0] + [3000.0] * 29


def test_a_date_and_a_time_column_read_as_one_time(tmp_path: Path) -> None:
    """The shape of the UCI household power file: Date;Time, kW, ? for missing, sub-metering in Wh per minute."""
    (tmp_path / "h.csv").write_text(
        "Date;Time;Global_active_power;Sub_metering_1\n"
        "16/12/2006;17:24:00;4.216;1.000\n16/12/2006;17:25:00;?;?\n"
        "16/12/2006;17:26:00;5.360;2.000\n",
        encoding="utf-8",
    )
    (tmp_path / "h.toml").write_text(
        '[file]\ndelimiter = ";"\n[time]\ncolumn = ["Date", "Time"]\nformat = "%d/%m/%Y %H:%M:%S"\n'
        'timezone = "Europe/Paris"\n[device]\nid = "house"\ndevice_type = "energy_meter"\nhome_id = "sceaux"\n'
        '[metrics]\npower_w = { column = "Global_active_power", scale = 1000.0 }\n'
        'energy_wh = { column = "Sub_metering_1" }\n',
        encoding="utf-8",
    )
    readings = replay.readings(tmp_path / "h.csv", replay.load_config(tmp_path / "h.toml"))
    events = replay.to_events(readings, ["house"], DeviceCursor(np.zeros(1, np.int64), np.full(1, -1, np.int64)))
    assert events.select("timestamp", "power_w", "energy_wh").rows() == [
        ("2006-12-16T16:24:00.000Z", 4216.0, 1.0),
        ("2006-12-16T16:25:00.000Z", None, None),
        ("2006-12-16T16:26:00.000Z", 5360.0, 2.0),
    ]


def test_a_device_named_by_its_home_and_its_own_name(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(
        "home,appliance,t,w\nA,fridge,2025-01-01 00:00,90\nB,fridge,2025-01-01 00:00,70\n"
        "A,fridge,2025-01-01 00:01,90\n",
        encoding="utf-8",
    )
    (tmp_path / "f.toml").write_text(
        '[time]\ncolumn = "t"\n[device]\ncolumn = ["home", "appliance"]\n'
        'device_type = "smart_plug"\nhome_id = { column = "home" }\n'
        '[metrics]\npower_w = "w"\n',
        encoding="utf-8",
    )
    readings = replay.readings(tmp_path / "f.csv", replay.load_config(tmp_path / "f.toml"))
    assert readings.select("device_id", "home_id", "energy_wh").rows() == [
        ("A_fridge", "A", 0.0),
        ("B_fridge", "B", 0.0),
        ("A_fridge", "A", 1.5),
    ]
