"""Browse a partition's messages like Kafka UI does: from the newest, an offset or a time, filtered by key or by
text in the value, with headers. Reads are bounded: at most SCAN_LIMIT records and TIMEOUT_S seconds a look."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from common import kafka_io
from config.settings import Settings

PREVIEW_BYTES = 500
SCAN_LIMIT = 20_000
TIMEOUT_S = 5.0
SCHEMA = {
    "offset": pl.Int64,
    "timestamp": pl.Datetime("us", "UTC"),
    "key": pl.String,
    "headers": pl.String,
    "value": pl.String,
}


@dataclass(frozen=True)
class Browse:
    """Where to start and what to keep: `start` is "newest" (the last `count` matches before the end), "offset"
    (from offset `at`) or "time" (from the first message at or after `at`, epoch ms)."""

    topic: str
    partition: int
    start: Literal["newest", "offset", "time"] = "newest"
    at: int = 0
    count: int = 20
    key: str = ""  # keep messages whose key contains this text
    text: str = ""  # keep messages whose value contains this text


def messages(settings: Settings, browse: Browse) -> pl.DataFrame:
    """The matching messages (offset, UTC time, key, headers, value preview), newest first for "newest", else in
    offset order."""
    kafka_io.check_broker(settings)
    consumer = KafkaConsumer(
        **kafka_io.client_config(settings),
        enable_auto_commit=False,
        group_id=None,
        request_timeout_ms=int(TIMEOUT_S * 1000) + 1000,
    )
    tp = TopicPartition(browse.topic, browse.partition)
    try:
        consumer.assign([tp])
        first, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
        start = _start(consumer, tp, browse, first, end)
        records = _read(consumer, tp, start, end, browse)
    except (KafkaError, OSError) as exc:
        raise kafka_io.broker_unavailable(settings, exc) from None
    finally:
        consumer.close()
    frame = pl.DataFrame([_row(r) for r in records], schema=SCHEMA).unique("offset")
    if browse.start == "newest":
        return frame.sort("offset", descending=True).head(browse.count)
    return frame.sort("offset").head(browse.count)


def _start(consumer: KafkaConsumer, tp: TopicPartition, browse: Browse, first: int, end: int) -> int:
    if browse.start == "offset":
        return min(max(browse.at, first), end)
    if browse.start == "time":
        found = consumer.offsets_for_times({tp: browse.at}).get(tp)
        return end if found is None else found.offset
    span = browse.count if not (browse.key or browse.text) else SCAN_LIMIT  # filters look further back
    return max(first, end - span)


def _read(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int, browse: Browse) -> list:
    """Records from `start` up to `end` (at most SCAN_LIMIT, within TIMEOUT_S) that pass the filters."""
    consumer.seek(tp, start)
    stop_at, kept, deadline = min(end, start + SCAN_LIMIT), [], time.monotonic() + TIMEOUT_S
    position = start
    enough = browse.start != "newest"  # from an offset or a time the first `count` matches are enough
    while position < stop_at and time.monotonic() < deadline and not (enough and len(kept) >= browse.count):
        for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
            for record in batch:
                position = record.offset + 1
                if record.offset < stop_at and _matches(record, browse):
                    kept.append(record)
    return kept


def _matches(record: object, browse: Browse) -> bool:
    """Whether the whole key and value (not just their previews) contain the filters' texts."""
    key = (record.key or b"").decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    value = (record.value or b"").decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    return browse.key in key and browse.text in value


def _row(record: object) -> dict:
    r = record  # a kafka-python ConsumerRecord
    headers = "; ".join(f"{k}={_text(v)}" for k, v in (r.headers or []))  # type: ignore[attr-defined]
    return {
        "offset": r.offset,
        "timestamp": datetime.fromtimestamp(r.timestamp / 1000, UTC),  # type: ignore[attr-defined]
        "key": _text(r.key),
        "headers": headers or None,
        "value": _text(r.value),
    }  # type: ignore[attr-defined]


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + " …" if len(raw) > PREVIEW_BYTES else text
