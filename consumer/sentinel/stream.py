"""The sentinel's Kafka side: its consumer on the telemetry topic, records → events, and the alerts-topic producer.

Records are decoded in bulk with silver's parser (consumer/silver/parse.py); a record that does not parse or lacks
a device, type or time is skipped here (silver quarantines it). Episode changes go to ALERTS_TOPIC keyed by device,
with the change id in a header: after a crash between the lake commit and the send, a restart sends the
unpublished changes again, so a reader sees each change at least once and deduplicates on `change_id`.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
import pyarrow as pa
from kafka import KafkaConsumer, KafkaProducer

from common.kafka_io import client_config
from config.settings import Settings
from consumer.sentinel.changes import to_json
from consumer.silver.parse import parse_values
from consumer.silver.transforms import event_times

logger = logging.getLogger(__name__)

EVENT_COLUMNS = (
    "partition",
    "offset",
    "event_id",
    "device_id",
    "home_id",
    "device_type",
    "event_time",
    "alert",
    "temperature_c",
    "power_w",
    "co_ppm",
    "smoke_ppm",
    "battery_pct",
)


def make_consumer(settings: Settings) -> KafkaConsumer:
    """A sentinel-group member: no auto-commit (the state table holds the position), short fetch waits."""
    return KafkaConsumer(
        **client_config(settings),
        group_id=settings.sentinel_consumer_group,
        client_id="sentinel",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        max_poll_interval_ms=600_000,
        reconnect_backoff_max_ms=5000,
    )


def make_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(**client_config(settings), acks="all", linger_ms=0, retries=5, client_id="sentinel")


def events(polled: dict[Any, list[Any]]) -> pl.DataFrame:
    """One poll's records as events (EVENT_COLUMNS), without the ones that cannot be judged."""
    records = [(tp.partition, r.offset, r.value) for tp, batch in polled.items() for r in batch]
    if not records:
        return pl.DataFrame(schema=_schema())
    partition, offset, value = zip(*records, strict=True)
    parsed = pl.from_arrow(parse_values(pa.array(value, pa.binary())))
    frame = parsed.with_columns(
        pl.Series("partition", partition, pl.Int32),
        pl.Series("offset", offset, pl.Int64),
        event_times(parsed["timestamp"]),
    )  # type: ignore[union-attr,index]
    return frame.filter(
        pl.col("parse_error").is_null()
        & pl.col("device_id").is_not_null()
        & pl.col("device_type").is_not_null()
        & pl.col("event_time").is_not_null()
    ).select(EVENT_COLUMNS)


def _schema() -> dict[str, pl.DataType]:
    return {
        "partition": pl.Int32(),
        "offset": pl.Int64(),
        "event_id": pl.String(),
        "device_id": pl.String(),
        "home_id": pl.String(),
        "device_type": pl.String(),
        "event_time": pl.Datetime("us", "UTC"),
        "alert": pl.String(),
        **{c: pl.Float64() for c in EVENT_COLUMNS[8:]},
    }


def publish(producer: KafkaProducer, topic: str, changes: pl.DataFrame, *, timeout_s: float = 10.0) -> None:
    """Send the changes (key: device_id, header change_id) and wait until the broker has them all."""
    for body, device, change_id in zip(to_json(changes), changes["device_id"], changes["change_id"], strict=True):
        producer.send(topic, value=body, key=device.encode(), headers=[("change_id", change_id.encode())])
    producer.flush(timeout=timeout_s)
