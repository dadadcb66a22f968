"""The bronze table's schema and progress markers: the contract between the ingest and silver."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from config.settings import Settings

UTC_TS = pa.timestamp("us", tz="UTC")

BRONZE_SCHEMA = pa.schema([
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", UTC_TS),
    pa.field("key", pa.binary()),
    pa.field("value", pa.binary()),
    pa.field("headers", pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))),
    pa.field("ingested_at", UTC_TS, nullable=False),
    pa.field("ingest_date", pa.date32(), nullable=False),
])

BRONZE_PARTITION_BY = ("ingest_date",)

# Bronze is append-only; the change data feed lets any reader (e.g. Spark, DuckDB) follow its commits.
BRONZE_TABLE_CONFIGURATION = {"delta.enableChangeDataFeed": "true"}


def bronze_path(settings: Settings) -> Path:
    """Folder of the bronze telemetry table."""
    return settings.table_path("bronze", "telemetry")


def offset_app_id(topic: str, partition: int) -> str:
    """Application-transaction id under which bronze records the last offset written for a topic-partition."""
    return f"bronze:{topic}:{partition}"
