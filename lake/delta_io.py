"""Delta Lake I/O shared by every stage: open, read, write atomically with progress markers, retry on conflict."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import orjson
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from config.errors import LakeError

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITER_PROPERTIES = WriterProperties(compression="ZSTD", compression_level=3)
# Appends write one file per partition per commit; compaction (consumer/maintenance.py) rewrites them into files
# of about this size.
TARGET_FILE_SIZE = 256 * 1024 * 1024


def open_table(path: Path) -> DeltaTable | None:
    """The Delta table at `path`, or None when there is none yet."""
    if not (path / "_delta_log").is_dir():
        return None
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise LakeError(f"Delta table {path} cannot be opened ({exc}); check the folder or restore it") from None


def txn_version(table: DeltaTable | None, app_id: str) -> int | None:
    """The last version an application recorded in the table's log (Delta application transaction), if any."""
    if table is None:
        return None
    return table.transaction_version(app_id)


class Snapshot(NamedTuple):
    """One version of a table as a stage planned on it (`table` None: there was no table yet).

    A `write` against a snapshot is conditional: it commits only if nothing committed since then conflicts with
    it (see `write`), so a progress check made on the snapshot and the commit see the same table state.
    """

    path: Path
    table: DeltaTable | None

    def txn_version(self, app_id: str) -> int | None:
        return txn_version(self.table, app_id)


def snapshot(path: Path) -> Snapshot:
    """The table's current version, to plan a write on."""
    return Snapshot(path, open_table(path))


def read(path: Path, *, columns: Sequence[str] | None = None, version: int | None = None) -> pl.DataFrame:
    """The whole table (or some columns) as polars; an empty frame when the table does not exist."""
    table = open_table(path)
    if table is None:
        return pl.DataFrame()
    if version is not None:
        table.load_as_version(version)
    return pl.from_arrow(table.to_pyarrow_table(columns=list(columns) if columns else None))  # type: ignore[return-value]


def write(target: Path | Snapshot, data: pl.DataFrame | pa.Table, *, mode: Literal["append", "overwrite"] = "append",
          partition_by: Sequence[str] | None = None, predicate: str | None = None,
          app_transactions: Mapping[str, int] | None = None, metadata: Mapping[str, str] | None = None,
          configuration: Mapping[str, str] | None = None, target_file_size: int | None = None) -> None:
    """One atomic Delta commit of `data`, with progress markers (`app_transactions`) in the same commit.

    `predicate` with mode="overwrite" replaces only the matching rows (e.g. some partitions). Against a Snapshot
    the commit is conditional: delta-rs checks every commit made since that snapshot and raises CommitFailedError
    if one recorded any of the same application transactions, or (an overwrite) added or removed rows it replaces.
    A Path commits on the table as it is when the write starts.
    """
    arrow = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    txns = [Transaction(app_id, version, now_ms) for app_id, version in (app_transactions or {}).items()]
    planned = target if isinstance(target, Snapshot) else snapshot(target)
    base = planned.table if planned.table is not None else _first_version(
        planned.path, arrow.schema, partition_by=partition_by, configuration=configuration)
    write_deltalake(
        base, arrow, mode=mode, partition_by=list(partition_by) if partition_by else None,
        predicate=predicate, configuration=dict(configuration) if configuration else None,
        writer_properties=WRITER_PROPERTIES, target_file_size=target_file_size,
        commit_properties=CommitProperties(custom_metadata=dict(metadata or {}), app_transactions=txns or None),
    )


def _first_version(path: Path, schema: pa.Schema, *, partition_by: Sequence[str] | None,
                   configuration: Mapping[str, str] | None) -> DeltaTable:
    """Version 0 of a new table, created empty, for a write planned on no table.

    delta-rs commits a creation even when another writer created the table at the same instant (the second one
    lands as version 1), so a first write cannot be made exclusive; instead it commits against the empty version 0
    and is conflict-checked against every commit after it, like any other write.
    """
    path.mkdir(parents=True, exist_ok=True)
    DeltaTable.create(str(path), schema, mode="ignore", partition_by=list(partition_by) if partition_by else None,
                      configuration=dict(configuration) if configuration else None)
    return DeltaTable(str(path), version=0)


def retry_on_conflict(operation: Callable[[], T], *, what: str, attempts: int = 20, base_delay_s: float = 0.05,
                      max_delay_s: float = 2.0) -> T:
    """Run `operation` until it commits; on a concurrent-commit conflict back off (with jitter) and run it again.

    `operation` must re-read whatever it decides on (e.g. progress markers), so a retry never writes twice.
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except CommitFailedError as exc:
            if attempt == attempts:
                raise LakeError(f"{what}: gave up after {attempts} conflicting commits ({exc})") from None
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random())
            logger.info("%s: concurrent commit, retrying in %.2fs (attempt %d)", what, delay, attempt)
            time.sleep(delay)
    raise AssertionError("unreachable")


def last_commit(path: Path) -> dict[str, object] | None:
    """Version, UTC time and operation of the table's latest commit, or None when there is no table."""
    table = open_table(path)
    return None if table is None else commit_info(table)


def commit_info(table: DeltaTable) -> dict[str, object]:
    """Version, UTC time and operation of the latest commit of an open table."""
    entry = table.history(1)[0]
    return {"version": table.version(), "timestamp": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
            "operation": entry.get("operation")}


def log_actions(path: Path, version: int) -> list[dict] | None:
    """The actions of one commit of the table's log, None when that log file is gone (cleaned up)."""
    try:
        text = (path / "_delta_log" / f"{version:020d}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def data_changes(path: Path, version: int) -> list[tuple[Literal["add", "remove"], dict]] | None:
    """The file actions of one commit that change data, as (kind, action): compaction rewrites (dataChange false)
    are left out. None when that log file is gone."""
    actions = log_actions(path, version)
    if actions is None:
        return None
    return [(kind, action[kind]) for action in actions for kind in ("add", "remove")
            if kind in action and action[kind].get("dataChange", True)]


def add_actions(table: DeltaTable) -> pl.DataFrame:
    """The table's current data files, one row each: path, partition.<column>, num_records, min./max.<column>."""
    return pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))  # type: ignore[return-value]
