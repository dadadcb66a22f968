"""Silver's Delta I/O: progress markers, bronze chunks by commit version, and silver's already-known events."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from common import delta_io
from common.errors import LakeError
from config.settings import Settings
from consumer.silver_transforms import BRONZE_COLUMNS

logger = logging.getLogger(__name__)

APP_ID = "silver:bronze"  # version = the last bronze version a silver table holds the results of
TABLES = ("quarantine", "telemetry", "run_log")  # written in this order for every chunk


class Chunk(NamedTuple):
    """Bronze versions first..last (inclusive) processed together."""

    first: int
    last: int


def table_path(settings: Settings, name: str) -> Path:
    return settings.table_path("silver", name)


def progress(settings: Settings) -> dict[str, int]:
    """Per silver table, the last bronze version whose results it holds (-1: none)."""
    marks = {}
    for name in TABLES:
        version = delta_io.txn_version(delta_io.open_table(table_path(settings, name)), APP_ID)
        marks[name] = -1 if version is None else version
    return marks


def next_chunk(bronze: Path, marks: dict[str, int], target: int, *, max_rows: int) -> Chunk | None:
    """The bronze versions to process next: first a chunk a crash left half-written, else new versions.

    The run log is written last, so it says which chunks are complete; a table ahead of it holds a chunk that
    must be finished with exactly the same boundaries.
    """
    done = marks["run_log"]
    pending = max(marks.values())
    if pending > done:
        return Chunk(done + 1, pending)
    if done >= target:
        return None
    last, rows = done + 1, _rows_added(bronze, done + 1)
    while last < target and rows + (more := _rows_added(bronze, last + 1)) <= max_rows:
        last, rows = last + 1, rows + more
    return Chunk(done + 1, last)


def _rows_added(path: Path, version: int) -> int:
    """Rows a bronze commit appended (from its log's file statistics); very large when unknown."""
    actions = delta_io.log_actions(path, version)
    if actions is None:
        return 1 << 62
    total = 0
    for action in actions:
        add = action.get("add")
        if add and add.get("dataChange", True):
            total += orjson.loads(add.get("stats") or '{"numRecords": 0}').get("numRecords", 0)
    return total


def read_chunk(table: DeltaTable, chunk: Chunk) -> pl.DataFrame:
    """The bronze rows the chunk's commits appended, in arrival order (commit, topic, partition, offset)."""
    try:
        arrow = table.load_cdf(starting_version=chunk.first, ending_version=chunk.last).read_all()
    except (DeltaError, OSError, pa.ArrowInvalid) as exc:
        raise LakeError(f"bronze versions {chunk.first}..{chunk.last} cannot be read ({exc}); if maintenance "
                        "vacuumed them, rebuild silver from bronze (delete data/silver)") from None
    frame: pl.DataFrame = pl.from_arrow(pa.table(arrow))  # type: ignore[assignment]
    return (frame.filter(pl.col("_change_type") == "insert")
            .sort("_commit_version", "topic", "partition", "offset")
            .select(BRONZE_COLUMNS))


def known_events(settings: Settings, candidates: pl.DataFrame) -> pl.DataFrame:
    """Silver's rows (event_id, kafka_partition, kafka_offset) that share an event_id with the candidates.

    A duplicate is a redelivery of the same event, so it carries the same event time: only silver files whose
    event dates and time range overlap the candidates' are read (partition and statistics pruning).
    """
    table = delta_io.open_table(table_path(settings, "telemetry"))
    empty = pl.DataFrame(schema={"event_id": pl.String, "kafka_partition": pl.Int32, "kafka_offset": pl.Int64})
    if table is None or candidates.is_empty():
        return empty
    dates = candidates["event_time"].dt.date().unique().sort().to_list()
    low, high = candidates["event_time"].min(), candidates["event_time"].max()
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=[("event_date", "in", [d.isoformat() for d in dates])])
    rows = dataset.to_table(columns=list(empty.columns), filter=(ds.field("event_time") >= _scalar(low))
                            & (ds.field("event_time") <= _scalar(high)))
    known: pl.DataFrame = pl.from_arrow(rows)  # type: ignore[assignment]
    return known.cast(empty.schema).join(candidates.select("event_id").unique(), on="event_id", how="semi")


def _scalar(moment: datetime) -> pa.Scalar:
    return pa.scalar(moment, pa.timestamp("us", tz="UTC"))
