"""Deliberately faulty records for testing the quality rules downstream; pure (rng in, records out).

Every quarantine kind is an extra record derived from a valid event (fresh event_id); `duplicate` is an exact
byte copy (silver drops it as a duplicate); `late_event` shifts a valid event's timestamp hours back in place
(still valid, flagged late downstream, counted as a normal event on its shifted date).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import numpy as np
import orjson
import polars as pl

from common.events import HEADER
from config.catalog import device_types
from producer.simulator import iso_ms

FaultKind = Literal[
    "invalid_json",
    "non_utf8",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "future_timestamp",
    "unknown_device",
    "duplicate",
    "late_event",
]
QUARANTINE_KINDS: tuple[FaultKind, ...] = (
    "invalid_json",
    "non_utf8",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "future_timestamp",
    "unknown_device",
)
FAULT_KINDS: tuple[FaultKind, ...] = (*QUARANTINE_KINDS, "duplicate", "late_event")
LATE_BY_MS = 3 * 3600 * 1000
FUTURE_BY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class FaultRecord:
    """One faulty Kafka record and where it came from (for the ledger)."""

    key: bytes
    value: bytes
    kind: FaultKind
    device_id: str
    ts_ms: int


def choose_faults(rng: np.random.Generator, n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """About `fraction` × n faults: (source row, kind index into FAULT_KINDS) pairs."""
    count = int(rng.binomial(n, fraction)) if n and fraction > 0 else 0
    return rng.integers(0, n, count), rng.integers(0, len(FAULT_KINDS), count)


def make_late(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """`frame` with the events at `rows` moved LATE_BY_MS back in time (they stay valid)."""
    if rows.size == 0:
        return frame
    late = np.zeros(frame.height, bool)
    late[rows] = True
    ts = frame["ts_ms"].to_numpy() - np.where(late, LATE_BY_MS, 0)
    return frame.with_columns(pl.Series("ts_ms", ts, dtype=pl.Int64), iso_ms(ts).alias("timestamp"))


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _corrupt(event: dict, raw: bytes, kind: FaultKind, rng: np.random.Generator, now_ms: int) -> tuple[bytes, bytes]:
    key = event["device_id"].encode()
    if kind == "duplicate":
        return key, raw
    event = {**event, "event_id": _uuid(rng)}
    if kind == "invalid_json":
        return key, orjson.dumps(event)[: len(raw) // 2]
    if kind == "non_utf8":
        return key, orjson.dumps(event).replace(b'"home_id":"', b'"home_id":"\xc3\x28\xff', 1)
    if kind == "missing_field":
        del event[HEADER[int(rng.integers(1, len(HEADER) - 1))]]  # not "alert": absent and null mean the same
    elif kind == "wrong_type":
        event["seq"] = f"seq-{event['seq']}"
    elif kind == "out_of_range":
        metric, (lo, hi) = next((m, r) for m, r in device_types()[event["device_type"]].ranges.items() if m in event)
        event[metric] = hi * 10 + 1
    elif kind == "future_timestamp":
        event["timestamp"] = iso_ms(np.array([now_ms + FUTURE_BY_MS]))[0]
    elif kind == "unknown_device":
        event["device_id"] = f"unknown_{_uuid(rng)[:8]}"
        key = event["device_id"].encode()
    return key, orjson.dumps(event)


def fault_records(
    frame: pl.DataFrame,
    values: list[bytes],
    rows: np.ndarray,
    kinds: np.ndarray,
    *,
    rng: np.random.Generator,
    now_ms: int,
) -> list[FaultRecord]:
    """The extra faulty records for the chosen (row, kind) pairs; `values` are frame's encoded events."""
    records = []
    for row, k in zip(rows.tolist(), kinds.tolist()):
        kind = FAULT_KINDS[k]
        if kind == "late_event":
            continue
        raw = values[row]
        event = orjson.loads(raw)
        key, value = _corrupt(event, raw, kind, rng, now_ms)
        records.append(FaultRecord(key, value, kind, frame["device_id"][row], int(frame["ts_ms"][row])))
    return records
