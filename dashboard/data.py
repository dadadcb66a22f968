"""The dashboard's reads: gold tables and lake metadata, cached per Delta table version (re-read only on change)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import streamlit as st
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from config.errors import LakehouseError
from config.location import Location
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableInfo:
    """Metadata of one lake table (no rows read): version, last commit, rows, how far it trails its source."""

    table: str
    version: int | None
    last_commit: object | None
    operation: str | None
    rows: int | None
    source: str | None
    source_version: int | None
    consumed_version: int | None

    @property
    def versions_behind(self) -> int | None:
        if self.source_version is None or self.consumed_version is None:
            return None
        return max(0, self.source_version - self.consumed_version)


def gold_exists(settings: Settings) -> bool:
    """True when at least one gold table has been written."""
    return any((table.path(settings) / "_delta_log").is_dir() for table in tables.all_tables("gold"))


_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False)
def _registry() -> dict[str, DeltaTable]:
    """One DeltaTable per path for the whole server, so a refresh reads only the log entries added since."""
    return {}


def _open(path: Location) -> DeltaTable | None:
    """The table at `path` brought up to its latest version, or None when there is none (yet, or any more)."""
    key, tables = str(path), _registry()
    with _LOCK:
        table = tables.get(key)
        if table is not None and (path / "_delta_log").is_dir():
            try:
                table.update_incremental()
            except (DeltaError, OSError) as exc:
                logger.info("reopening %s (%s)", path, exc)
            else:
                delta_io.verify_log(path, table.version())
                return table
        tables.pop(key, None)
        table = delta_io.open_table(path)
        if table is not None:
            tables[key] = table
        return table


@dataclass(frozen=True)
class _Files:
    """A table version's data files (absolute path, partition values, column maxima) and its Arrow schema."""

    files: pl.DataFrame
    schema: pa.Schema
    partitions: tuple[str, ...] = ()
    storage_options: dict[str, str] | None = None  # to read the files from an object store

    def empty(self) -> pl.DataFrame:
        return pl.from_arrow(self.schema.empty_table())  # type: ignore[return-value]


@st.cache_resource(max_entries=256, show_spinner=False)
def _files(_table: DeltaTable, path: Location, version: int) -> _Files:
    with _LOCK:
        actions = delta_io.add_actions(_table)
        schema = pa.schema(_table.schema().to_arrow())
    if actions.is_empty():
        return _Files(pl.DataFrame(schema={"file": pl.String}), schema, storage_options=path.storage_options)
    relative = actions.get_column("path")
    encoded = relative.filter(relative.str.contains("%", literal=True)).unique().to_list()  # rare: odd partition values
    if encoded:
        relative = relative.replace({name: unquote(name) for name in encoded})
    partitions = tuple(c.removeprefix("partition.") for c in actions.columns if c.startswith("partition."))
    columns = [(path.uri + "/" + relative).alias("file")]
    columns += [
        actions.get_column(c).alias(c.split(".", 1)[1]) for c in actions.columns if c.startswith(("partition.", "max."))
    ]
    columns += [actions.get_column("num_records")] if "num_records" in actions.columns else []
    return _Files(pl.DataFrame(columns), schema, partitions, path.storage_options)


def _scan(
    files: _Files, selected: pl.DataFrame, columns: tuple[str, ...] | None, predicate: pl.Expr | None = None
) -> pl.DataFrame:
    """Read the selected files with polars (`predicate` pushed down to row groups); partition values come from the
    log, not the files."""
    wanted = list(columns) if columns else files.schema.names
    empty = files.empty()
    if selected.is_empty():
        return empty.select(wanted)
    partitions = [c for c in files.partitions if c in wanted]
    frame = pl.scan_parquet(
        selected.get_column("file").to_list(),
        hive_partitioning=False,
        include_file_paths="_file",
        storage_options=files.storage_options,
    )
    frame = frame.select(*(c for c in wanted if c not in partitions), "_file")
    if predicate is not None:
        frame = frame.filter(predicate)
    if partitions:
        values = selected.lazy().select(
            pl.col("file").alias("_file"), *(pl.col(c).cast(empty.schema[c]) for c in partitions)
        )
        frame = frame.join(values, on="_file")
    return frame.select(wanted).collect()


@st.cache_resource(max_entries=256, show_spinner=False)
def _read_version(
    _table: DeltaTable, path: Location, version: int, columns: tuple[str, ...] | None, dates: tuple[date, date] | None
) -> pl.DataFrame:
    """One version of a table (some columns, some date partitions); the frame is shared, never mutate it."""
    files = _files(_table, path, version)
    selected = files.files
    if dates is not None and "date" in selected.columns:
        selected = selected.filter(pl.col("date").is_between(*dates))
    frame = _scan(files, selected, columns)
    return frame.filter(pl.col("date").is_between(*dates)) if dates is not None else frame


def read_table(
    settings: Settings,
    name: str,
    *,
    layer: str = "gold",
    columns: tuple[str, ...] | None = None,
    dates: tuple[date, date] | None = None,
) -> pl.DataFrame:
    """A lake table (cached per Delta version); no rows, in its registered columns, when it does not exist yet."""
    declared = tables.get(f"{layer}/{name}")
    path = declared.path(settings)
    table = _open(path)
    if table is None:
        return pl.DataFrame(schema={c: declared.schema[c] for c in columns or declared.schema})
    if not declared.dated:
        dates = None
    return _read_version(table, path, table.version(), columns, dates)


def versions(settings: Settings, *names: str) -> tuple[int | None, ...]:
    """The current versions of some gold tables (None: no table), e.g. as part of a cache key."""
    opened = [_open(tables.get(f"gold/{name}").path(settings)) for name in names]
    return tuple(table.version() if table is not None else None for table in opened)


def date_bounds(settings: Settings, name: str) -> tuple[date, date] | None:
    """The oldest and newest date partition of a gold table, from the log alone (no data file read)."""
    path = tables.get(f"gold/{name}").path(settings)
    table = _open(path)
    if table is None:
        return None
    files = _files(table, path, table.version()).files
    if "date" not in files.columns or files.is_empty():
        return None
    return files.get_column("date").min(), files.get_column("date").max()  # type: ignore[return-value]


@st.cache_resource(max_entries=64, show_spinner=False)
def _read_recent(_table: DeltaTable, path: Location, version: int, time_column: str, minutes: int) -> pl.DataFrame:
    """The rows of the last `minutes` before the newest `time_column` value (found in the log's file statistics)."""
    files = _files(_table, path, version)
    if time_column not in files.files.columns or files.files.is_empty():
        return files.empty()
    newest = files.files.get_column(time_column).cast(pl.Datetime("us", "UTC")).max()
    start = newest - timedelta(minutes=minutes)  # type: ignore[operator]
    selected = files.files.filter(pl.col(time_column).cast(pl.Datetime("us", "UTC")) > start)
    frame = _scan(files, selected, None, pl.col(time_column) > start)
    return frame.sort(["device_id", time_column])


def read_recent(settings: Settings, name: str, *, time_column: str, minutes: int) -> pl.DataFrame:
    """The last `minutes` of a gold table by `time_column`, counted back from its newest row (cached per version)."""
    path = tables.get(f"gold/{name}").path(settings)
    table = _open(path)
    if table is None:
        return pl.DataFrame()
    return _read_recent(table, path, table.version(), time_column, minutes)


def _rows(table: DeltaTable, path: Location) -> int | None:
    files = _files(table, path, table.version()).files
    return int(files.get_column("num_records").sum()) if "num_records" in files.columns else None


def table_info(settings: Settings, declared: tables.Table) -> TableInfo:
    """Version, last commit, row count (from the log's file statistics) and lag behind its source of one table."""
    path = declared.path(settings)
    source = declared.upstream
    table = _open(path)
    if table is None:
        return TableInfo(declared.key, None, None, None, None, source, None, None)
    with _LOCK:
        commit = delta_io.commit_info(table)
    source_version = None
    if source is not None:
        source_table = _open(tables.get(source).path(settings))
        source_version = source_table.version() if source_table is not None else None
    return TableInfo(
        declared.key,
        table.version(),
        commit.get("timestamp"),
        commit.get("operation"),
        _rows(table, path),
        source,
        source_version,  # type: ignore[arg-type]
        delta_io.txn_version(table, declared.marker()) if source else None,
    )


def lake_overview(settings: Settings) -> pl.DataFrame:
    """One row per lake table: version, last commit, rows, source version, consumed version, versions behind, and
    the error of a table that cannot be read (the other rows are still filled)."""
    rows = []
    for declared in tables.all_tables():
        try:
            info = table_info(settings, declared)
        except LakehouseError as exc:
            rows.append({"table": declared.key, "error": delta_io.one_line(str(exc))})
            continue
        rows.append(
            {
                "table": info.table,
                "version": info.version,
                "last_commit": info.last_commit,
                "operation": info.operation,
                "rows": info.rows,
                "source": info.source,
                "source_version": info.source_version,
                "consumed_version": info.consumed_version,
                "versions_behind": info.versions_behind,
                "error": None,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "version": pl.Int64,
            "last_commit": pl.Datetime("us", "UTC"),
            "operation": pl.String,
            "rows": pl.Int64,
            "source": pl.String,
            "source_version": pl.Int64,
            "consumed_version": pl.Int64,
            "versions_behind": pl.Int64,
            "error": pl.String,
        },
    )
