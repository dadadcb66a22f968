"""Silver's pure parts: the bulk parser, every rule, deduplication and enrichment, on tiny fixed inputs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from unittest.mock import patch

import orjson
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from config.catalog import config_catalog
from consumer.silver import parse
from consumer.silver.parse import parse_values, row_error
from consumer.silver.rules import rules, rules_frame
from consumer.silver.transforms import (
    CONTENT,
    apply_rules,
    checked_events,
    classify_arrivals,
    silver_quarantine,
    silver_telemetry,
)
from tests.conftest import make_settings
from tests.consumer.silver.fixtures import INGESTED, bronze_table, encode, plug_event

SETTINGS = make_settings(MAX_FUTURE_SKEW_S=300, LATE_EVENT_THRESHOLD_S=3600, ROLLING_WINDOW=2)
RULES = rules(SETTINGS)


def run_rules(values: list[bytes | None]) -> pl.DataFrame:
    bronze: pl.DataFrame = pl.from_arrow(bronze_table(values))  # type: ignore[assignment]
    parsed: pl.DataFrame = pl.from_arrow(parse_values(bronze["value"].to_arrow()))  # type: ignore[assignment]
    return apply_rules(checked_events(bronze, parsed, config_catalog()), RULES).rows


def test_parser_explains_every_value_it_cannot_type():
    values = [
        encode(plug_event()),
        None,
        b"",
        b"\xff\xfe{}",
        b"[1, 2]",
        b"{oops",
        b'{"seq": 1.5}',
        b'{"power_w": "12"}',
        b'{"device_id": 7}',
        b'{"is_on": "true"}',
        b'{"seq": 99999999999999999999}',
        b'{"a": 1}\n{"b": 2}',
        b'{\n"seq": 3}',
        b'  {"seq": 4}  ',
        b"null",
        b" null",
        b'{"seq": 5}\nnull',
    ]
    parsed = pl.from_arrow(parse_values(pa.array(values, pa.binary())))
    assert parsed["parse_error"].to_list() == [
        None,
        "valid_json",
        "valid_json",
        "valid_utf8",
        "valid_json",
        "valid_json",
        "field_types",
        "field_types",
        "field_types",
        "field_types",
        "field_types",
        "valid_json",
        None,
        None,
        "valid_json",
        "valid_json",
        "valid_json",
    ]  # a bare null crashes Arrow
    assert parsed["seq"].to_list()[0] == 0 and parsed["seq"].to_list()[-5:-3] == [3, 4]
    assert parsed.row(0, named=True)["power_w"] == 100.0 and parsed.row(0, named=True)["is_on"] is True


VALID_VALUE = encode(plug_event())


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ([b"null"], ["valid_json"]),
        ([b"  null", VALID_VALUE], ["valid_json", None]),
        ([VALID_VALUE, b"null"], [None, "valid_json"]),
        ([VALID_VALUE + b"\nnull"], ["valid_json"]),
    ],
)
def test_a_bare_null_never_reaches_arrows_reader(values, errors):
    """pyarrow 26's JSON reader crashes the process on a line holding only `null`."""
    assert pl.from_arrow(parse_values(pa.array(values, pa.binary())))["parse_error"].to_list() == errors


raw_values = st.one_of(
    st.binary(max_size=60),
    st.none(),
    st.builds(
        lambda n, overrides: json.dumps(plug_event(n) | overrides).encode(),
        st.integers(0, 50),
        st.dictionaries(
            st.sampled_from(["seq", "power_w", "is_on", "device_id", "alert", "extra"]),
            st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
            max_size=2,
        ),
    ),
)


@hyp_settings(max_examples=200, deadline=None)
@given(st.lists(raw_values, max_size=30))
def test_bulk_parse_equals_one_value_at_a_time(values):
    """Whatever the mix, the vectorised path and the slow path agree, and every value yields one row."""
    bulk = pl.from_arrow(parse_values(pa.array(values, pa.binary())))
    assert bulk.height == len(values)
    for i, value in enumerate(values):
        single = pl.from_arrow(parse_values(pa.array([value], pa.binary())))
        assert_frame_equal(bulk.slice(i, 1), single)
        assert (single["parse_error"][0] is None) == (row_error(value) is None)


@hyp_settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(raw_values, max_size=12), max_size=5), st.integers(1, 400))
def test_values_decoded_in_groups_and_slices_by_parallel_threads_keep_their_order(chunks, group_bytes):
    """Chunks joined into groups, large ones sliced, groups decoded by several threads: the same rows, in order, as
    each value decoded on its own."""
    values = [value for chunk in chunks for value in chunk]
    with patch.object(parse, "GROUP_BYTES", group_bytes):
        grouped = pl.from_arrow(parse_values(pa.chunked_array([pa.array(c, pa.binary()) for c in chunks], pa.binary())))
    assert grouped.height == len(values)
    for i, value in enumerate(values):
        assert_frame_equal(grouped.slice(i, 1), pl.from_arrow(parse_values(pa.array([value], pa.binary()))))


def test_rules_table_fits_one_screen_and_has_both_actions():
    table = rules_frame(SETTINGS)
    assert table.height <= 25 and table["rule"].is_unique().all()
    assert set(table["action"]) == {"warn", "quarantine"}


@pytest.mark.parametrize(
    ("overrides", "failed", "warned"),
    [
        ({}, [], []),
        ({"schema_version": 2}, ["supported_schema_version"], []),
        ({"event_id": None}, ["required_fields"], []),
        ({"timestamp": "yesterday"}, ["timestamp_parses"], []),
        ({"timestamp": "2026-11-23T12:10:06Z"}, ["not_in_future"], []),
        ({"timestamp": "2026-11-23T10:00:00Z"}, [], ["on_time"]),
        ({"device_id": "toaster_9"}, ["known_device"], []),
        ({"home_id": "home_002"}, ["matches_catalog"], []),
        ({"status": "sleeping"}, ["valid_status"], []),
        ({"seq": -1}, ["seq_non_negative"], []),
        ({"power_w": 5000.0}, ["value_in_range"], []),
        ({"power_w": -1.0, "seq": -2}, ["seq_non_negative", "value_in_range"], []),
        ({"alert": "on_fire"}, [], ["known_alert"]),
        ({"event_id": "not-a-uuid"}, [], ["event_id_is_uuid"]),
        ({"energy_wh": None}, [], ["expected_metrics"]),
        ({"energy_wh": None, "status": "maintenance"}, [], []),
        ({"temperature_c": 21.0}, [], ["no_foreign_metrics"]),
    ],
)
def test_each_rule_fires_exactly_on_what_it_checks(overrides, failed, warned):
    rows = run_rules([encode(plug_event(**overrides))])
    quarantined = silver_quarantine(rows.filter(pl.col("quarantine_mask") != 0), RULES, quarantined_at=INGESTED)
    assert (quarantined["failed_rules"].to_list() or [[]]) == [failed]
    if not failed:
        kept = silver_telemetry(rows, config_catalog(), RULES, SETTINGS)
        assert kept["warnings"].to_list() == [warned]
        assert kept["quality_score"].to_list() == [1.0 - len(warned) / 5]


def test_unparseable_values_fail_only_their_parse_rule():
    rows = run_rules([b"\xff", b"nope", b'{"seq": "1"}', None])
    quarantined = silver_quarantine(rows, RULES, quarantined_at=INGESTED)
    assert quarantined["failed_rules"].to_list() == [["valid_utf8"], ["valid_json"], ["field_types"], ["valid_json"]]
    assert quarantined["value"].to_list() == [b"\xff", b"nope", b'{"seq": "1"}', None]
    assert quarantined["offset"].to_list() == [0, 1, 2, 3]


def arrivals(values: list[bytes], known: pl.DataFrame | None = None) -> list[str]:
    rows = run_rules(values)
    silver = (
        known
        if known is not None
        else pl.DataFrame(schema={"event_id": pl.String, "kafka_partition": pl.Int32, "kafka_offset": pl.Int64})
    )
    for column in CONTENT:
        if column not in silver.columns:
            silver = silver.with_columns(rows[column].head(silver.height).alias(column))
    return classify_arrivals(rows, silver)["arrival"].to_list()


def test_a_repeated_event_id_is_a_duplicate_when_its_content_matches_the_first_arrival_else_a_conflict():
    first, other = plug_event(0, power_w=1.0), plug_event(0, power_w=2.0)
    resent = plug_event(0, power_w=1.0, seq=9, schema_version=1)  # seq is delivery metadata, not content
    values = [encode(first), encode(plug_event(1)), encode(resent), encode(other), encode(other)]
    assert arrivals(values) == ["new", "new", "duplicate", "conflict", "conflict"]
    assert arrivals([encode(plug_event(0, alert="low_battery")), encode(plug_event(0))]) == ["new", "conflict"]
    assert arrivals([encode(plug_event(0, energy_wh=None)), encode(plug_event(0))]) == ["new", "conflict"]


def test_silver_holds_the_first_arrival():
    held = pl.DataFrame(
        {"event_id": [plug_event(0)["event_id"]], "kafka_partition": [3], "kafka_offset": [70]},
        schema_overrides={"kafka_partition": pl.Int32},
    )
    values = [encode(plug_event(0)), encode(plug_event(0, power_w=7.0)), encode(plug_event(1))]
    assert arrivals(values, held) == ["duplicate", "conflict", "new"]
    itself = held.with_columns(pl.lit(0, pl.Int32).alias("kafka_partition"), pl.lit(0, pl.Int64).alias("kafka_offset"))
    assert arrivals(values, itself) == ["new", "conflict", "new"]  # a crashed run being finished


@hyp_settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1)), max_size=40))
def test_every_event_id_is_new_exactly_once(pairs):
    values = [encode(plug_event(i, power_w=float(p))) for i, p in pairs]
    first: dict[int, int] = {}
    expected = []
    for i, p in pairs:
        expected.append("new" if i not in first else "duplicate" if first[i] == p else "conflict")
        first.setdefault(i, p)
    assert (arrivals(values) if values else []) == expected


def test_enrichment_exact():
    values = [
        encode(plug_event(0, power_w=10.0)),
        encode(plug_event(1, power_w=20.0)),
        encode(plug_event(2, power_w=40.0)),
        encode(
            plug_event(
                3,
                device_id="smart_bulb_002",
                home_id="home_002",
                device_type="smart_bulb",
                power_w=8.0,
                timestamp="2026-11-23T10:00:00.000Z",
            )
        ),
    ]
    silver = silver_telemetry(run_rules(values), config_catalog(), RULES, SETTINGS)
    expected = pl.DataFrame(
        {
            "device_id": ["smart_bulb_002", "smart_plug_001", "smart_plug_001", "smart_plug_001"],
            "home_name": ["Harbour View 7", "Maple Street 12", "Maple Street 12", "Maple Street 12"],
            "location": ["living_room", "office", "office", "office"],
            "manufacturer": ["LIFX", "TP-Link", "TP-Link", "TP-Link"],
            "installation_date": [date(2024, 2, 14), date(2022, 11, 5), date(2022, 11, 5), date(2022, 11, 5)],
            "device_age_days": [1013, 1479, 1479, 1479],
            "event_date": [date(2026, 11, 23)] * 4,
            "processing_delay_s": [7205.0, 5.0, 4.0, 3.0],
            "is_late_event": [True, False, False, False],
            "quality_score": [0.8, 1.0, 1.0, 1.0],
            "warnings": [["on_time"], [], [], []],
            "power_w_rolling_mean": [8.0, 10.0, 15.0, 30.0],
            "temperature_c_rolling_mean": [None, None, None, None],
            "kafka_offset": [3, 0, 1, 2],
        },
        schema_overrides={
            "device_age_days": pl.Int32,
            "temperature_c_rolling_mean": pl.Float64,
            "kafka_offset": pl.Int64,
        },
    )
    assert_frame_equal(silver.select(expected.columns), expected)
    assert silver["event_time"][1] == datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_quarantine_row_keeps_the_record_and_its_coordinates():
    rows = run_rules([orjson.dumps(plug_event(0, device_id="ghost", power_w=-3.0))])
    row = silver_quarantine(rows, RULES, quarantined_at=datetime(2026, 11, 24, tzinfo=UTC)).row(0, named=True)
    assert row["failed_rules"] == ["known_device", "value_in_range"]
    assert row["device_id"] == "ghost" and row["event_id"] == str(plug_event(0)["event_id"])
    assert row["quarantine_date"] == date(2026, 11, 23) and row["key"] == b"k"
