"""Telemetry event schema v1, defined once: what a device publishes and what the consumer reads.

Kafka value = one JSON object (UTF-8) with the HEADER fields and the metrics its device type measures; key =
device_id. The producer writes these fields, silver parses them with ARROW_SCHEMA and validates them with
STATUSES, ALERTS and REQUIRED_FIELDS, gold reads the metrics by these names. `config/event_schema_v1.json` is
the same contract as a JSON Schema, for other producers (a test checks that the two agree).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

NUMERIC_METRICS = (
    "temperature_c",
    "humidity_pct",
    "setpoint_c",
    "power_w",
    "energy_wh",
    "battery_pct",
    "co_ppm",
    "lpg_ppm",
    "smoke_ppm",
)
BOOL_METRICS = ("motion", "light", "is_on")
METRICS = NUMERIC_METRICS + BOOL_METRICS

HEADER = ("schema_version", "event_id", "device_id", "home_id", "device_type", "seq", "timestamp", "status", "alert")
REQUIRED_FIELDS = ("event_id", "device_id", "home_id", "device_type", "seq", "timestamp", "status")
STATUSES = ("online", "maintenance", "error")  # an offline device sends nothing
# Device-flagged alerts; the producer encodes them as indexes into this tuple (keep the order).
ALERTS = (
    "connectivity_issue",
    "maintenance_required",
    "high_temperature",
    "low_temperature",
    "high_power",
    "low_battery",
)

ARROW_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int64()),
        ("event_id", pa.string()),
        ("device_id", pa.string()),
        ("home_id", pa.string()),
        ("device_type", pa.string()),
        ("seq", pa.int64()),
        ("timestamp", pa.string()),
        ("status", pa.string()),
        ("alert", pa.string()),
    ]
    + [(name, pa.float64()) for name in NUMERIC_METRICS]
    + [(name, pa.bool_()) for name in BOOL_METRICS]
)

# Energy rule: a reading's energy_wh is its power over the time since the same device's previous reading; 0 for
# the first reading, after a gap longer than this (a restart days later is not an hour of consumption) or when
# time went backwards.
MAX_ENERGY_GAP_S = 3600.0
MS_PER_HOUR = 3_600_000


def energy_wh(power_w: np.ndarray, dt_ms: np.ndarray, *, max_gap_s: float = MAX_ENERGY_GAP_S) -> np.ndarray:
    """Energy (Wh) of readings with power `power_w` and `dt_ms` milliseconds since the device's previous reading
    (negative or NaN: no previous reading); the energy rule above, in IEEE doubles."""
    dt = np.asarray(dt_ms, dtype=np.float64)
    counted = (dt > 0) & (dt <= max_gap_s * 1000)
    return np.where(counted, np.asarray(power_w, dtype=np.float64) * np.where(counted, dt, 0.0) / MS_PER_HOUR, 0.0)
