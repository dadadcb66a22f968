"""A batch of Kafka records on its way to bronze, and the exactly-once append that lands it.

The ingest buffers polled records here; `append_batch` writes them in one Delta commit that also records, per
topic-partition, the last offset written (application transactions). It reads those markers on a snapshot of the
table, drops what the table already holds, and commits against that same snapshot: a commit that recorded one of
its partitions in between (a zombie writer, a new owner after a rebalance) makes the commit fail, and the append
is planned again. So a replay never duplicates a record; the markers are the ingest's restart position.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from kafka.consumer.fetcher import ConsumerRecord

from lake import delta_io, tables

logger = logging.getLogger(__name__)

_FIELD_GETTERS = {
    name: operator.itemgetter(ConsumerRecord._fields.index(name))
    for name in ("offset", "timestamp", "key", "value", "headers")
}
_VALUE_SIZE = operator.attrgetter("serialized_value_size")
_KEY_SIZE = operator.attrgetter("serialized_key_size")


@dataclass
class _PartitionChunk:
    topic: str
    partition: int
    records: list[Any]


@dataclass
class BronzeBatch:
    """Records polled since the last flush, kept as kafka-python ConsumerRecords until the flush builds columns."""

    chunks: list[_PartitionChunk] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    started: float | None = None

    def add(self, topic: str, partition: int, records: Sequence[Any], *, now: float) -> None:
        """Buffer one poll's records of one partition (in offset order)."""
        if not records:
            return
        self.chunks.append(_PartitionChunk(topic, partition, list(records)))
        self.records += len(records)
        self.bytes += sum(map(_VALUE_SIZE, records)) + sum(map(_KEY_SIZE, records))
        if self.started is None:
            self.started = now

    def keep_only(self, partitions: Iterable[tuple[str, int]]) -> int:
        """Drop the records of partitions this process no longer owns; returns how many were dropped."""
        owned = set(partitions)
        kept = [c for c in self.chunks if (c.topic, c.partition) in owned]
        dropped = self.records - sum(len(c.records) for c in kept)
        if dropped:
            self.chunks = kept
            self.records -= dropped
        return dropped

    def last_offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → the highest offset buffered."""
        last: dict[tuple[str, int], int] = {}
        for chunk in self.chunks:
            key = (chunk.topic, chunk.partition)
            last[key] = max(last.get(key, -1), chunk.records[-1].offset)
        return last

    def to_arrow(self, *, ingested_at: datetime) -> pa.Table:
        """The batch as rows of the bronze schema (fields pulled out of the ConsumerRecords in C, no per-row Python)."""
        records = [r for chunk in self.chunks for r in chunk.records]
        n = len(records)
        field = {name: list(map(getter, records)) for name, getter in _FIELD_GETTERS.items()}
        ts_ms = pa.array(field["timestamp"], pa.int64())
        columns = {
            "topic": pa.concat_arrays([pa.repeat(pa.scalar(c.topic, pa.string()), len(c.records)) for c in self.chunks])
            if self.chunks
            else pa.array([], pa.string()),
            "partition": pa.concat_arrays(
                [pa.repeat(pa.scalar(c.partition, pa.int32()), len(c.records)) for c in self.chunks]
            )
            if self.chunks
            else pa.array([], pa.int32()),
            "offset": pa.array(field["offset"], pa.int64()),
            "kafka_timestamp": pc.if_else(pc.less(ts_ms, 0), None, pc.multiply(ts_ms, 1000)).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "key": pa.array(field["key"], pa.binary()),
            "value": pa.array(field["value"], pa.binary()),
            "headers": _headers(field["headers"]),
            "ingested_at": pa.repeat(pa.scalar(ingested_at, tables.BRONZE_ARROW_SCHEMA.field("ingested_at").type), n),
            "ingest_date": pa.repeat(pa.scalar(ingested_at.date(), pa.date32()), n),
        }
        return pa.table(columns, schema=tables.BRONZE_ARROW_SCHEMA)


def _headers(headers: list[list[tuple[str, bytes]]]) -> pa.Array:
    """Record headers as list<struct<key, value>>; the common no-headers case without touching rows."""
    header_type = tables.BRONZE_ARROW_SCHEMA.field("headers").type
    if any(headers):
        return pa.array([[{"key": k, "value": v} for k, v in h] for h in headers], header_type)
    return pa.ListArray.from_arrays(
        pa.repeat(pa.scalar(0, pa.int32()), len(headers) + 1), pa.array([], header_type.value_type)
    )


@dataclass(frozen=True)
class AppendResult:
    """What one flush wrote: rows, rows skipped as already present, and the new per-partition positions."""

    rows: int
    skipped: int
    positions: dict[tuple[str, int], int]
    version: int | None


def append_batch(path: delta_io.Where, batch: BronzeBatch, *, clock_now: datetime | None = None) -> AppendResult:
    """Append the batch to the bronze table exactly once (re-planned on a conflicting commit), see the module doc."""
    rows = batch.to_arrow(ingested_at=clock_now or datetime.now(UTC))
    last = batch.last_offsets()

    def attempt() -> AppendResult:
        planned = delta_io.snapshot(path)
        written = {key: planned.txn_version(tables.offset_marker(*key)) for key in last}
        fresh = _rows_after(rows, written)
        positions = {key: max(offset, written[key] or -1) for key, offset in last.items()}
        if fresh.num_rows == 0:
            return AppendResult(0, rows.num_rows, positions, planned.table.version() if planned.table else None)
        markers = {
            tables.offset_marker(*key): offset
            for key, offset in last.items()
            if written[key] is None or offset > written[key]
        }
        delta_io.write(
            planned,
            fresh,
            partition_by=tables.BRONZE.partition_by,
            configuration=tables.BRONZE.configuration,
            app_transactions=markers,
            metadata={"writer": "bronze-ingest", "rows": str(fresh.num_rows)},
        )
        return AppendResult(fresh.num_rows, rows.num_rows - fresh.num_rows, positions, None)

    return delta_io.retry_on_conflict(attempt, what=f"bronze append of {rows.num_rows} records")


def _rows_after(rows: pa.Table, written: Mapping[tuple[str, int], int | None]) -> pa.Table:
    """Only the rows whose offset is beyond what the table already recorded for their partition."""
    if all(v is None for v in written.values()):
        return rows
    keep = None
    for (topic, partition), upto in written.items():
        in_partition = pc.and_(pc.equal(rows["topic"], topic), pc.equal(rows["partition"], partition))
        fresh = in_partition if upto is None else pc.and_(in_partition, pc.greater(rows["offset"], upto))
        keep = fresh if keep is None else pc.or_(keep, fresh)
    return rows.filter(keep)
