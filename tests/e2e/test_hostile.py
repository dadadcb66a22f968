"""Hostile input through the real broker: whatever bytes arrive, every record ends in silver or quarantine."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from consumer.bronze import ingest as ingest_bronze
from consumer.silver import run as bronze_to_silver
from lake import delta_io, tables
from tests.kafka_helpers import bronze_count, produce_raw

pytestmark = pytest.mark.e2e

VALID = {
    "schema_version": 1,
    "device_id": "thermostat_001",
    "home_id": "home_001",
    "device_type": "thermostat",
    "seq": 0,
    "timestamp": "2026-11-23T06:00:00.000Z",
    "status": "online",
    "alert": None,
    "temperature_c": 21.0,
    "humidity_pct": 40.0,
    "setpoint_c": 21.0,
    "power_w": 100.0,
    "energy_wh": 0.03,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def dumps(value: object) -> bytes:
    """Python's JSON, which also writes integers beyond 64 bits, NaN and Infinity."""
    return json.dumps(value).encode()


mutated_events = st.builds(
    lambda field, value: {**VALID, "event_id": str(uuid.uuid4()), field: value},
    st.sampled_from(sorted(VALID)),
    json_values,
)
hostile = st.one_of(
    st.binary(max_size=300),  # arbitrary bytes, invalid UTF-8 included
    st.just(b""),
    st.none(),  # empty and null values
    st.builds(lambda n: b"x" * n, st.integers(100_000, 900_000)),  # huge
    json_values.map(dumps),  # JSON that is not an event
    mutated_events.map(dumps),  # an event with one field replaced by anything
    st.builds(lambda: dumps({**VALID, "event_id": str(uuid.uuid4())})),  # valid
)


@pytest.mark.integration
@hyp_settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    values=st.lists(hostile, min_size=1, max_size=25),
    keys=st.lists(st.none() | st.binary(max_size=10), min_size=25, max_size=25),
    with_headers=st.booleans(),
)
def test_every_hostile_record_lands_in_silver_or_quarantine(kafka_settings, values, keys, with_headers):
    before = bronze_count(kafka_settings)
    headers = [[("h", b"\x00\xff")] if with_headers else [] for _ in values]
    keys = [key if key is not None or value is not None else b"" for key, value in zip(keys, values)]  # Kafka needs one
    produce_raw(kafka_settings, values, keys=keys, headers=headers)
    ingest_bronze.run(kafka_settings, max_records=len(values), idle_exit_s=20)
    assert bronze_count(kafka_settings) == before + len(values)
    result = bronze_to_silver.run(kafka_settings)
    assert result.bronze_rows == len(values)
    assert result.silver_rows + result.quarantined_rows + result.duplicate_rows == len(values)
    log = delta_io.read(tables.RUN_LOG.path(kafka_settings))
    assert log["reconciled"].all()
    assert int(log["bronze_rows"].sum()) == bronze_count(kafka_settings)
