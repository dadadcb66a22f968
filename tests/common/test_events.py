"""The event contract (common/events.py) and its JSON Schema (config/event_schema_v1.json) say the same thing."""

import json

import numpy as np

from common.events import (
    ALERTS,
    BOOL_METRICS,
    HEADER,
    NUMERIC_METRICS,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    STATUSES,
    energy_wh,
)
from config.catalog import DEVICE_TYPES, device_types
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "config" / "event_schema_v1.json").read_text())


def test_json_schema_names_the_contracts_fields_and_values():
    props = SCHEMA["properties"]
    assert list(props) == [*HEADER, *NUMERIC_METRICS, *BOOL_METRICS]
    assert set(SCHEMA["required"]) >= set(REQUIRED_FIELDS)
    assert props["schema_version"]["const"] == SCHEMA_VERSION
    assert props["status"]["enum"] == list(STATUSES)
    assert set(props["alert"]["enum"]) == {None, *ALERTS}
    assert props["device_type"]["enum"] == list(DEVICE_TYPES)
    assert all(props[m]["type"] == "number" for m in NUMERIC_METRICS)
    assert all(props[m]["type"] == "boolean" for m in BOOL_METRICS)


def test_json_schema_ranges_are_the_device_types():
    by_type = {rule["if"]["properties"]["device_type"]["const"]: rule["then"]["properties"] for rule in SCHEMA["allOf"]}
    for name, spec in device_types().items():
        for metric, (lo, hi) in spec.ranges.items():
            assert by_type[name][metric] == {"minimum": lo, "maximum": hi}
        assert {m for m, rule in by_type[name].items() if rule is False} == set(NUMERIC_METRICS + BOOL_METRICS) - set(
            spec.metrics
        )


def test_energy_rule():
    power = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    dt_ms = np.array([-1, 0, 1_800_000, 3_600_000, 3_600_001])  # first reading, same instant, ½ h, 1 h, over 1 h
    assert energy_wh(power, dt_ms).tolist() == [0.0, 0.0, 50.0, 100.0, 0.0]
