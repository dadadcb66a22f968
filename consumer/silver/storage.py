"""Silver's Delta I/O: progress markers, bronze chunks by commit version, and silver's already-known events."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple
from urllib.parse import unquote

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from config.errors import LakeError
from config.location import Location
from config.settings import Settings
from consumer.silver.transforms import CONTENT
from lake import delta_io, tables

logger = logging.getLogger(__name__)

# the bronze columns its Parquet files hold (ingest_date is a partition value, in the path)
BRONZE_FILE_SCHEMA = pa.schema([field for field in tables.BRONZE_ARROW_SCHEMA if field.name != "ingest_date"])
READERS = 2


class Chunk(NamedTuple):
    """Bronze versions first..last (inclusive) processed together."""

    first: int
    last: int


class Progress(NamedTuple):
    """Silver's tables as a run planned on them: their snapshots, and per table the last bronze version whose
    results it holds (-1: none), both by table name. Writes commit against these snapshots, so a concurrent run's
    commit in between makes them fail (and the chunk is planned again) instead of writing a chunk twice."""

    snapshots: dict[str, delta_io.Snapshot]
    marks: dict[str, int]


def progress(settings: Settings) -> Progress:
    """Snapshots of the silver tables and their progress markers."""
    snapshots = {table.name: delta_io.snapshot(table.path(settings)) for table in tables.SILVER_TABLES}
    marks = {
        table.name: -1 if (version := snapshots[table.name].txn_version(table.marker())) is None else version
        for table in tables.SILVER_TABLES
    }
    return Progress(snapshots, marks)


def next_chunk(bronze: Location, marks: dict[str, int], target: int, *, max_rows: int) -> Chunk | None:
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


def _rows_added(path: Location, version: int) -> int:
    """Rows a bronze commit appended, from its log's file statistics."""
    return sum(
        orjson.loads(add.get("stats") or '{"numRecords": 0}').get("numRecords", 0)
        for add in _appended_files(path, version)
    )


def _appended_files(path: Location, version: int) -> list[dict]:
    """The add actions of one bronze commit that carry new rows (compaction rewrites carry none)."""
    changes = delta_io.data_changes(path, version)
    if changes is None:
        raise LakeError(
            f"bronze version {version} is no longer in the log of {path}; rebuild silver from bronze "
            "(delete data/silver) or restore the log"
        )
    if any(kind == "remove" for kind, _ in changes) and not _lost_files_dropped(path, version):
        raise LakeError(f"bronze version {version} removed rows, but bronze is append-only; restore {path}")
    return [add for kind, add in changes if kind == "add"]


def _lost_files_dropped(path: Location, version: int) -> bool:
    """Whether the commit is the FSCK of consumer.bronze.reingest: it drops files whose records it re-ingested."""
    actions = delta_io.log_actions(path, version) or []
    return any(a.get("commitInfo", {}).get("operation") == "FSCK" for a in actions)


def read_chunk(path: Location, chunk: Chunk) -> pa.Table:
    """The bronze rows the chunk's commits appended, in arrival order (by commit, then as each commit wrote them).

    Bronze is append-only, so a commit's new rows are exactly the Parquet files it added: they are read
    directly (no change-data-feed scan), only the columns silver needs, READERS files at a time (a file's values
    column decodes on one core).
    """
    files = [file for version in range(chunk.first, chunk.last + 1) for file in _chunk_files(path, version)]
    with ThreadPoolExecutor(READERS) as pool:
        parts = list(pool.map(_read_bronze_file, files))
    return pa.concat_tables([tables.BRONZE_ARROW_SCHEMA.empty_table().select(tables.RECORD_COLUMNS), *parts])


def _chunk_files(path: Location, version: int) -> list[tuple[int, Location]]:
    """(version, file) of the data files a bronze commit appended that are still there; a file dropped by
    consumer.bronze.reingest (which re-ingested its records in a later commit) is skipped, any other is an error."""
    files, live = [], None
    for add in _appended_files(path, version):
        file = path / unquote(add["path"])
        if file.exists():
            files.append((version, file))
            continue
        live = live if live is not None else _live_files(path)
        if add["path"] in live:
            raise _lost_file(path, version, add)
        logger.info(
            "silver: bronze version %d: %s is gone, dropped by consumer.bronze.reingest, which "
            "re-ingested its records in a later commit",
            version,
            add["path"],
        )
    return files


def _read_bronze_file(where: tuple[int, Location]) -> pa.Table:
    version, file = where
    try:
        filesystem, name = file.filesystem()
        return pq.read_table(
            name, filesystem=filesystem, columns=list(tables.RECORD_COLUMNS), schema=BRONZE_FILE_SCHEMA
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise LakeError(
            f"bronze version {version}: data file {file} cannot be read ({exc}); move it away "
            "and run python -m consumer.bronze.reingest (see docs/bronze.md#damaged-lake-tables)"
        ) from None


def _live_files(path: Location) -> set[str]:
    table = delta_io.open_table(path)
    return set() if table is None else set(delta_io.add_actions(table)["path"])


def _lost_file(path: Location, version: int, add: dict) -> LakeError:
    """The one-line error for a bronze data file that is gone: its version, and the offsets it held (its stats)."""
    stats = orjson.loads(add.get("stats") or "{}")
    low, high = stats.get("minValues", {}), stats.get("maxValues", {})
    held = (
        f"{stats.get('numRecords', '?')} records of partitions {low.get('partition')}..{high.get('partition')}, "
        f"offsets {low.get('offset')}..{high.get('offset')}"
    )
    return LakeError(
        f"bronze version {version}: data file {path / unquote(add['path'])} is missing ({held}); run "
        "python -m consumer.bronze.reingest to re-read those records from Kafka (or record them as lost "
        "if Kafka no longer holds them), see docs/bronze.md#damaged-lake-tables"
    )


def known_events(telemetry: delta_io.Snapshot, candidates: pl.DataFrame) -> pl.DataFrame:
    """Silver's rows (event_id, kafka_partition, kafka_offset, CONTENT) in the `telemetry` snapshot that share an
    event_id with the candidates.

    Both ids (simulated: device and seq, replayed: device and event time) belong to one moment of one device, so
    an arrival under a known id carries about the same event time: only silver files whose event dates and time
    range overlap the candidates' are read (partition and statistics pruning). A conflicting arrival whose
    timestamp moved to another date is not matched (it is kept as a new event).
    """
    table = telemetry.table
    columns = ("event_id", "kafka_partition", "kafka_offset", *CONTENT)
    empty = pl.DataFrame(schema={c: tables.SILVER.schema[c] for c in columns})
    if table is None or candidates.is_empty():
        return empty
    dates = candidates["event_time"].dt.date().unique().sort().to_list()
    low, high = candidates["event_time"].min(), candidates["event_time"].max()
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=[("event_date", "in", [d.isoformat() for d in dates])])
    in_range = (ds.field("event_time") >= _scalar(low)) & (ds.field("event_time") <= _scalar(high))
    ids: pl.DataFrame = pl.from_arrow(dataset.to_table(columns=["event_id"], filter=in_range))  # type: ignore[assignment]
    matched = ids.join(candidates.select("event_id").unique(), on="event_id", how="semi")["event_id"]
    if matched.is_empty():  # the usual case: the content of silver's rows is read only for ids that arrive again
        return empty
    rows = dataset.to_table(columns=list(columns), filter=in_range & ds.field("event_id").isin(matched.to_arrow()))
    known: pl.DataFrame = pl.from_arrow(rows)  # type: ignore[assignment]
    return known.cast(empty.schema)


def _scalar(moment: datetime) -> pa.Scalar:
    return pa.scalar(moment, pa.timestamp("us", tz="UTC"))
