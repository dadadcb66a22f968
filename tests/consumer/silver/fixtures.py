"""Bronze tables and events for silver tests, built directly in the contract's schema (docs/data_model.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa

from config.settings import Settings
from lake import delta_io, tables

INGESTED = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
TOPIC = "smart_home.telemetry"


def plug_event(n: int = 0, **overrides: object) -> dict:
    """A valid smart_plug_001 reading (n-th of its series, one second apart)."""
    at = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=n)
    event = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=n + 1)),
        "device_id": "smart_plug_001",
        "home_id": "home_001",
        "device_type": "smart_plug",
        "seq": n,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": "online",
        "alert": None,
        "is_on": True,
        "power_w": 100.0 + n % 1000,
        "energy_wh": 0.5,
    }
    return event | overrides


def encode(event: dict) -> bytes:
    return orjson.dumps(event)


def bronze_table(
    values: Sequence[bytes | None],
    *,
    partition: int = 0,
    start_offset: int = 0,
    ingested_at: datetime = INGESTED,
    topic: str = TOPIC,
) -> pa.Table:
    """Bronze rows holding `values` at consecutive offsets of one partition."""
    n = len(values)
    return pa.table(
        {
            "topic": [topic] * n,
            "partition": [partition] * n,
            "offset": list(range(start_offset, start_offset + n)),
            "kafka_timestamp": [ingested_at] * n,
            "key": [b"k"] * n,
            "value": list(values),
            "headers": [[]] * n,
            "ingested_at": [ingested_at] * n,
            "ingest_date": [ingested_at.date()] * n,
        },
        schema=tables.BRONZE_ARROW_SCHEMA,
    )


def append_bronze(settings: Settings, values: Sequence[bytes | None], **options: object) -> None:
    """One bronze commit of `values`, as the ingest writes it (with its offset marker)."""
    table = bronze_table(values, **options)  # type: ignore[arg-type]
    last = int(table["offset"][-1].as_py()) if len(table) else 0
    delta_io.write(
        tables.BRONZE.path(settings),
        table,
        partition_by=tables.BRONZE.partition_by,
        configuration=tables.BRONZE.configuration,
        app_transactions={tables.offset_marker(TOPIC, int(options.get("partition", 0))): last},
    )  # type: ignore
