"""Pure producer logic: simulator, encoding, faults, ledger, seq state, replay mapping. No broker."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from common.clock import ManualClock
from common.events import HEADER, METRICS
from config.catalog import CATALOG_SCHEMA, DEVICE_TYPES, device_types
from config.errors import ConfigError
from producer import replay
from producer.emitter import Emitter
from producer.encode import encode
from producer.faults import FAULT_KINDS, FUTURE_BY_MS, LATE_BY_MS, FaultRecord, fault_records, make_late
from producer.fleet import synthetic_fleet
from producer.ledger import LEDGER_SCHEMA, Ledger, read_ledger
from producer.simulator import DeviceCursor, Simulator
from producer.state import RESERVE, SeqStore
from producer.telemetry_sim import parse_time, run, timeline
from tests.producer.fixtures import SCHEMA_PATH, T0_MS, ListSink, simulate, tiny_csv, validator


def test_synthetic_fleet_is_deterministic_with_a_realistic_mix() -> None:
    fleet = synthetic_fleet(50, seed=3)
    assert_frame_equal(fleet, synthetic_fleet(50, seed=3))
    assert not fleet.equals(synthetic_fleet(50, seed=4))
    assert fleet.schema == pl.Schema(CATALOG_SCHEMA)
    assert fleet["device_id"].is_unique().all()
    assert fleet["home_id"].n_unique() == 50
    assert 6 <= fleet.height / 50 <= 10
    per_home = fleet.group_by("home_id").agg(
        pl.col("device_type").filter(pl.col("device_type") == "energy_meter").len()
    )
    assert per_home["device_type"].to_list() == [1] * 50  # one whole-home meter each
    assert set(fleet["device_type"]) == set(DEVICE_TYPES)


def test_same_seed_same_events_other_seed_other_events() -> None:
    _, a = simulate(seed=11)
    _, b = simulate(seed=11)
    _, c = simulate(seed=12)
    assert_frame_equal(a, b)
    assert not a.drop("event_id").equals(c.drop("event_id"))
    assert a["event_id"].is_unique().all()


def test_batching_does_not_change_the_events() -> None:
    sim = Simulator(synthetic_fleet(3, seed=5), seed=5)
    one_batch = sim.frame([sim.step(T0_MS + k * 1000) for k in range(4)])
    sim = Simulator(synthetic_fleet(3, seed=5), seed=5)
    per_tick = pl.concat([sim.tick(T0_MS + k * 1000) for k in range(4)])
    assert_frame_equal(one_batch, per_tick)


def test_energy_is_power_times_time_since_the_previous_reading() -> None:
    sim, frame = simulate(homes=4, ticks=30, interval_ms=2500)
    metered = frame.filter(pl.col("energy_wh").is_not_null()).sort("device_id", "seq")
    previous: dict[str, int] = {}
    positive = 0
    for device_id, ts_ms, power_w, energy_wh in metered.select(
        "device_id", "ts_ms", "power_w", "energy_wh"
    ).iter_rows():
        dt_ms = ts_ms - previous[device_id] if device_id in previous else 0
        assert energy_wh == power_w * dt_ms / 3_600_000  # exactly: the documented formula, in IEEE doubles
        previous[device_id] = ts_ms
        positive += energy_wh > 0
    assert positive > metered.height / 2


def test_seq_per_device_is_consecutive_and_offline_devices_send_nothing() -> None:
    sim, frame = simulate(homes=20, ticks=200)
    gaps = frame.group_by("device_id").agg(
        (pl.col("seq").diff().drop_nulls() != 1).sum().alias("bad"),
        pl.len().alias("n"),
        pl.col("seq").max().alias("last"),
    )
    assert gaps["bad"].sum() == 0
    assert (gaps["n"] == gaps["last"] + 1).all()
    assert frame.height < sim.n * 200  # some devices were offline for a while (probability 5e-4 per reading)


def test_metrics_within_ranges_and_present_exactly_for_their_type() -> None:
    _, frame = simulate(homes=10, ticks=50)
    for name, spec in device_types().items():
        rows = frame.filter(pl.col("device_type") == name)
        for metric in METRICS:
            nulls = rows[metric].null_count()
            assert nulls == (0 if metric in spec.metrics else rows.height), (name, metric)
        for metric, (lo, hi) in spec.ranges.items():
            if metric != "energy_wh":
                assert rows[metric].is_between(lo, hi).all(), (name, metric)


@hyp_settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), homes=st.integers(1, 4), interval_ms=st.integers(1, 120_000))
def test_every_generated_event_validates_against_the_json_schema(seed: int, homes: int, interval_ms: int) -> None:
    _, frame = simulate(homes, seed=seed, ticks=3, interval_ms=interval_ms)
    _, keys, values = encode(frame)
    check = validator()
    for key, value in zip(keys, values):
        event = orjson.loads(value)
        check.validate(event)
        assert key == event["device_id"].encode()


def test_json_schema_ranges_match_the_device_types_config() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    by_type = {rule["if"]["properties"]["device_type"]["const"]: rule["then"]["properties"] for rule in schema["allOf"]}
    for name, spec in device_types().items():
        for metric, (lo, hi) in spec.ranges.items():
            assert by_type[name][metric] == {"minimum": lo, "maximum": hi}
        assert {m for m, rule in by_type[name].items() if rule is False} == set(METRICS) - set(spec.metrics)


def test_encoding_round_trips_and_leaves_out_unmeasured_metrics() -> None:
    _, frame = simulate(homes=2, ticks=2)
    ordered, keys, values = encode(frame)
    assert ordered.height == frame.height == len(values)
    expected = ordered.drop("ts_ms")
    decoded = pl.DataFrame([orjson.loads(v) for v in values], schema=expected.schema)
    assert_frame_equal(decoded, expected)
    for value, device_type in zip(values, ordered["device_type"]):
        assert set(orjson.loads(value)) == set(HEADER) | set(device_types()[device_type].metrics)


def test_each_fault_kind_breaks_what_it_says() -> None:
    _, frame = simulate(homes=2, ticks=1)
    ordered, _, values = encode(frame)
    kinds = np.arange(len(FAULT_KINDS) - 1)  # late_event is not an extra record
    rows = np.zeros(kinds.size, np.int64)
    records = {
        r.kind: r for r in fault_records(ordered, values, rows, kinds, rng=np.random.default_rng(0), now_ms=T0_MS)
    }
    source = orjson.loads(values[0])
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(records["invalid_json"].value)
    with pytest.raises(UnicodeDecodeError):
        records["non_utf8"].value.decode("utf-8")
    missing = orjson.loads(records["missing_field"].value)
    assert len(set(HEADER) - set(missing)) == 1
    assert isinstance(orjson.loads(records["wrong_type"].value)["seq"], str)
    out_of_range = orjson.loads(records["out_of_range"].value)
    ranges = device_types()[source["device_type"]].ranges
    assert any(out_of_range[m] > hi for m, (lo, hi) in ranges.items() if m in out_of_range)
    assert orjson.loads(records["future_timestamp"].value)["timestamp"] == "2026-01-02T00:00:00.000Z"
    assert FUTURE_BY_MS == 24 * 3600 * 1000
    unknown = orjson.loads(records["unknown_device"].value)
    assert (
        unknown["device_id"].startswith("unknown_") and records["unknown_device"].key == unknown["device_id"].encode()
    )
    assert records["duplicate"].value == values[0]
    fresh = [orjson.loads(records[k].value)["event_id"] for k in ("wrong_type", "out_of_range", "future_timestamp")]
    assert source["event_id"] not in fresh
    assert {r.device_id for r in records.values()} == {source["device_id"]}


def test_late_events_move_hours_back_and_stay_valid() -> None:
    _, frame = simulate(homes=1, ticks=1)
    late = make_late(frame, np.array([0]))
    assert late["ts_ms"][0] == frame["ts_ms"][0] - LATE_BY_MS
    assert late["timestamp"][0] == "2025-12-31T21:00:00.000Z"
    assert_frame_equal(late[1:], frame[1:])
    validator().validate(orjson.loads(encode(late[:1])[2][0]))


def test_ledger_sums_events_energy_and_faults_per_device_and_day(tmp_path: Path) -> None:
    day1, day2 = T0_MS - 1000, T0_MS  # 2025-12-31 23:59:59 and 2026-01-01 00:00:00
    ledger = Ledger()
    ledger.add_events(
        pl.DataFrame(
            {"device_id": ["a", "a", "b", "a"], "ts_ms": [day1, day2, day2, day2], "energy_wh": [1.5, 2.0, None, 0.25]}
        )
    )
    ledger.add_faults(
        [FaultRecord(b"a", b"x", "duplicate", "a", day2), FaultRecord(b"z", b"{", "invalid_json", "b", day2)],
        pl.DataFrame({"device_id": ["a"], "ts_ms": [day1]}),
    )
    zeros = {f"fault_{k}": [0, 0, 0] for k in FAULT_KINDS}
    expected = pl.DataFrame(
        {
            "device_id": ["a", "a", "b"],
            "date": [date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 1)],
            "events": [1, 2, 1],
            "energy_wh": [1.5, 2.25, 0.0],
            **zeros,
            "fault_duplicate": [0, 1, 0],
            "fault_invalid_json": [0, 0, 1],
            "fault_late_event": [1, 0, 0],
        },
        schema_overrides=LEDGER_SCHEMA,
    ).select(list(LEDGER_SCHEMA))
    assert_frame_equal(ledger.frame(), expected)
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"ledger{suffix}"
        ledger.write(path)
        ledger.write(path)  # a second run adds to the first
        doubled = expected.with_columns(pl.exclude("device_id", "date") * 2)
        assert_frame_equal(read_ledger(path), doubled)


def test_seq_continues_after_a_clean_restart_and_skips_ahead_after_a_crash(tmp_path: Path) -> None:
    path, ids = tmp_path / "state.json", ["d1", "d2"]
    store = SeqStore(path, ids)
    cursor = store.load()
    assert cursor.seq.tolist() == [0, 0] and cursor.last_ms.tolist() == [-1, -1]
    cursor.seq[:] = [5, 7]
    cursor.last_ms[:] = [T0_MS, -1]
    store.save(cursor)
    again = SeqStore(path, ["d2", "d1", "d3"]).load()
    assert again.seq.tolist() == [7, 5, 0] and again.last_ms.tolist() == [-1, T0_MS, -1]
    crashed = SeqStore(path, ids).load()  # the previous load reserved a block and was never saved
    assert crashed.seq.tolist() == [5 + RESERVE, 7 + RESERVE] and crashed.last_ms.tolist() == [-1, -1]


def test_simulator_continues_a_saved_cursor() -> None:
    fleet = synthetic_fleet(1, seed=1)
    cursor = DeviceCursor(np.full(fleet.height, 41, np.int64), np.full(fleet.height, T0_MS - 2000, np.int64))
    frame = Simulator(fleet, seed=1, cursor=cursor).tick(T0_MS)
    assert frame["seq"].to_list() == [41] * frame.height
    metered = frame.filter(pl.col("energy_wh").is_not_null())
    assert metered["energy_wh"].to_list() == [p * 2000 / 3_600_000 for p in metered["power_w"]]


def test_replay_maps_columns_orders_by_time_and_numbers_each_device(tmp_path: Path) -> None:
    csv = tiny_csv(tmp_path / "tiny.csv")
    config = replay.load_config(csv.with_suffix(".toml"))
    readings = replay.readings(csv, config)
    devices = replay.devices(readings)
    assert devices["device_id"].to_list() == ["dev_a", "dev_b"]
    assert devices.row(0, named=True)["home_name"] == "Test Home"
    cursor = DeviceCursor(np.array([10, 0]), np.array([-1, -1]))
    events = replay.to_events(readings, ["dev_a", "dev_b"], cursor)
    expected = pl.DataFrame(
        {
            "device_id": ["dev_a", "dev_b", "dev_a", "dev_a", "dev_b"],
            "seq": [10, 0, 11, 12, 1],
            "timestamp": [
                "2026-01-01T00:00:00.000Z",
                "2026-01-01T00:00:05.000Z",
                "2026-01-01T00:00:10.000Z",
                "2026-01-01T00:00:20.000Z",
                "2026-01-01T00:01:00.000Z",
            ],
            "temperature_c": [20.0, 19.0, 20.5, 21.0, 19.5],
            "power_w": [2000.0, 500.0, 1000.0, 1500.0, 250.0],
            "energy_wh": [
                0.0,
                0.0,
                1000.0 * 10_000 / 3_600_000,
                1500.0 * 10_000 / 3_600_000,
                250.0 * 55_000 / 3_600_000,
            ],
        }
    )
    assert_frame_equal(events.select(expected.columns), expected)
    assert cursor.seq.tolist() == [13, 2] and cursor.last_ms.tolist() == [T0_MS + 20_000, T0_MS + 60_000]
    for value in encode(events)[2]:
        validator().validate(orjson.loads(value))


def test_shipped_replay_mapping_covers_the_real_dataset_columns() -> None:
    config = replay.load_config(Path("config/replay/iot_env_telemetry.toml"))
    assert config.fields["device_type"].value == "environment_sensor"
    assert set(config.metrics) == {"environment_sensor"}
    assert set(config.metrics["environment_sensor"]) <= set(device_types()["environment_sensor"].metrics)
    assert len(config.device_id.values) == 3


def test_timeline_of_live_and_backfill_modes() -> None:
    now = T0_MS + 12_345
    assert timeline(now, step_ms=1000, devices=10, events=None, start=None, end=None, duration=None) == (
        False,
        T0_MS + 12_000,
        None,
    )
    assert timeline(now, step_ms=1000, devices=10, events=None, start=None, end=None, duration=60) == (
        False,
        T0_MS + 12_000,
        T0_MS + 72_000,
    )
    assert timeline(now, step_ms=1000, devices=10, events=100, start=None, end=None, duration=None) == (
        True,
        now - 12_000,
        None,
    )  # 10 ticks, 10 % spare, one more
    start = parse_time("2026-01-01T00:00:00Z", "--start")
    assert start == parse_time("2026-01-01T00:00:00", "--start") == T0_MS
    assert timeline(now, step_ms=30_000, devices=5, events=None, start=start, end=None, duration=None) == (
        True,
        T0_MS,
        now,
    )
    assert timeline(now, step_ms=30_000, devices=5, events=None, start=start, end=None, duration=90) == (
        True,
        T0_MS,
        T0_MS + 90_000,
    )
    assert timeline(now, step_ms=30_000, devices=5, events=7, start=start, end=T0_MS + 5, duration=None) == (
        True,
        T0_MS,
        T0_MS + 5,
    )
    with pytest.raises(ConfigError, match="--end 'yesterday' is not an ISO-8601 time"):
        parse_time("yesterday", "--end")


@hyp_settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), fraction=st.sampled_from([0.0, 0.01, 0.2, 1.0]), homes=st.integers(1, 3))
def test_emitted_records_summary_and_ledger_agree(seed: int, fraction: float, homes: int) -> None:
    _, frame = simulate(homes, seed=seed, ticks=4)
    sink = ListSink()
    emitter = Emitter(sink, ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), fraction, np.random.default_rng(seed))
    emitter.emit(frame)
    summary, ledger = emitter.summary(), emitter.ledger.frame()
    extra = sum(n for kind, n in summary.faults.items() if kind != "late_event")
    assert len(sink.records) == frame.height + extra
    assert summary.sent == ledger["events"].sum() == frame.height
    assert ledger["energy_wh"].sum() == pytest.approx(frame["energy_wh"].fill_null(0).sum(), rel=1e-12, abs=1e-12)
    for kind in FAULT_KINDS:
        assert ledger[f"fault_{kind}"].sum() == summary.faults[kind]
    valid = set(sink.records[: frame.height])  # the emitter sends the batch's events first, then its faults
    assert sum(record in valid for record in sink.records[frame.height :]) == summary.faults["duplicate"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"homes": 0}, "--homes must be at least 1"),
        ({"interval": 0}, "--interval must be at least"),
        ({"speed": -1}, "--speed must be >= 0"),
        ({"bad_fraction": 1.5}, "--bad-fraction must be within 0..1"),
        ({"homes": 2, "replay": "x.csv", "replay_config": "x.toml"}, "--homes and --replay exclude each other"),
        ({"replay": "x.csv"}, "--replay needs --replay-config"),
    ],
)
def test_bad_options_fail_before_touching_the_broker(settings, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(settings, **options)


def test_devices_flag_alerts_with_their_own_types_limits() -> None:
    """A simulated device flags high_power / high_ and low_temperature exactly when its reading crosses its type's
    limit in config/device_types.toml (a whole-home meter is not a plug)."""
    sim = Simulator(synthetic_fleet(40, seed=5), seed=5)
    plugs = sim.device_type == "smart_plug"
    assert (sim.limits["power_high_w"][plugs] == device_types()["smart_plug"].alerts["power_high_w"]).all()
    assert np.isnan(sim.limits["temperature_high_c"][plugs]).all()  # a plug has no temperature limit
    sim.limits["power_high_w"] = np.where(plugs, 50.0, sim.limits["power_high_w"])  # most plug loads cross it
    frame = pl.concat([sim.tick(T0_MS + i * 60_000) for i in range(120)]).filter(pl.col("status") == "online")
    limits = pl.DataFrame(
        {
            "device_type": sim.device_type,
            "device_id": sim.fleet["device_id"],
            **{name: values for name, values in sim.limits.items()},
        }
    ).fill_nan(None)
    rows = frame.join(limits, on=["device_id", "device_type"])
    crossed = (
        pl.when((pl.col("temperature_c") > pl.col("temperature_high_c")).fill_null(False))
        .then(pl.lit("high_temperature"))
        .when((pl.col("temperature_c") < pl.col("temperature_low_c")).fill_null(False))
        .then(pl.lit("low_temperature"))
        .when((pl.col("power_w") > pl.col("power_high_w")).fill_null(False))
        .then(pl.lit("high_power"))
    )
    threshold_kinds = pl.col("alert").is_in(["high_temperature", "low_temperature", "high_power"])
    checked = rows.filter(crossed.is_not_null() | threshold_kinds)
    assert (checked["alert"] == "high_power").sum() > 10  # the plugs over 50 W
    assert checked.select((pl.col("alert") == crossed).all()).item()
    meters = sim.device_type == "energy_meter"
    assert (sim.limits["power_high_w"][meters] == device_types()["energy_meter"].alerts["power_high_w"]).all()
