"""Kafka seen from the dashboard: topics, end offsets, consumer-group lag, the last messages of a partition."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import polars as pl
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from common import kafka_io
from config.settings import Settings

logger = logging.getLogger(__name__)

PREVIEW_BYTES = 500


def topics(settings: Settings) -> pl.DataFrame:
    """One row per topic (internal ones left out): partitions and the sum of their end offsets."""
    kafka_io.check_broker(settings)
    consumer = KafkaConsumer(**kafka_io.client_config(settings), enable_auto_commit=False)
    try:
        names = sorted(t for t in consumer.topics() if not t.startswith("__"))
        tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(tps) if tps else {}
    except (KafkaError, OSError) as exc:
        raise kafka_io.broker_unavailable(settings, exc) from None
    finally:
        consumer.close()
    rows = [{"topic": tp.topic, "partition": tp.partition, "end_offset": offset} for tp, offset in ends.items()]
    frame = pl.DataFrame(rows, schema={"topic": pl.String, "partition": pl.Int64, "end_offset": pl.Int64})
    return (frame.group_by("topic")
            .agg(pl.len().cast(pl.Int64).alias("partitions"), pl.col("end_offset").sum().alias("messages_total"))
            .sort("topic"))


def consumer_groups(settings: Settings) -> list[str]:
    """Every consumer group the broker knows."""
    kafka_io.check_broker(settings)
    admin = kafka_io.admin_client(settings, timeout_s=5.0)
    try:
        return sorted(group["group_id"] for group in admin.list_groups())
    except (KafkaError, OSError) as exc:
        raise kafka_io.broker_unavailable(settings, exc) from None
    finally:
        admin.close()


def lag(settings: Settings, topic: str, group: str) -> pl.DataFrame:
    """Per partition of `topic`: end offset, `group`'s committed offset and its lag."""
    kafka_io.check_broker(settings)
    rows = [{"partition": p.partition, "end_offset": p.end_offset, "committed": p.committed, "lag": p.lag}
            for p in kafka_io.group_lag(settings, topic, group)]
    return pl.DataFrame(rows, schema={"partition": pl.Int64, "end_offset": pl.Int64, "committed": pl.Int64,
                                      "lag": pl.Int64})


def last_messages(settings: Settings, topic: str, partition: int, *, count: int = 20,
                  timeout_s: float = 5.0) -> pl.DataFrame:
    """The last `count` records of one partition, newest first: offset, time, key and the value as text."""
    kafka_io.check_broker(settings)
    consumer = KafkaConsumer(**kafka_io.client_config(settings), enable_auto_commit=False, group_id=None,
                             request_timeout_ms=int(timeout_s * 1000) + 1000)
    records = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        start = max(0, end - count)
        consumer.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        while end > start and len(records) < end - start and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=count).values():
                records.extend(r for r in batch if r.offset < end)
    except (KafkaError, OSError) as exc:
        raise kafka_io.broker_unavailable(settings, exc) from None
    finally:
        consumer.close()
    rows = [{"offset": r.offset, "timestamp": datetime.fromtimestamp(r.timestamp / 1000, UTC),
             "key": _text(r.key), "value": _text(r.value)} for r in records]
    frame = pl.DataFrame(rows, schema={"offset": pl.Int64, "timestamp": pl.Datetime("us", "UTC"), "key": pl.String,
                                       "value": pl.String})
    return frame.unique("offset").sort("offset", descending=True)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + " …" if len(raw) > PREVIEW_BYTES else text
