"""Delta Lake I/O shared by every stage: open, read, write atomically with progress markers, retry on conflict."""

from __future__ import annotations

import errno
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias, TypeVar

import orjson
import polars as pl
import pyarrow as pa
from deltalake import ColumnProperties, CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from config.errors import LakeError
from config.location import Location, at, store_problem
from lake import parquet_append

logger = logging.getLogger(__name__)

T = TypeVar("T")
Where: TypeAlias = Location | Path  # a table's location (`Table.path(settings)`), or a local folder

# zstd level 1 without dictionary pages: the lake's strings are unique ids and JSON values or few repeated names,
# which zstd compresses as well plain (measured: silver telemetry 8.7 MB vs 8.8 MB with level 3 and dictionaries)
# at about 20 % less CPU per write
WRITER_PROPERTIES = WriterProperties(
    compression="ZSTD",
    compression_level=1,
    default_column_properties=ColumnProperties(dictionary_enabled=False, statistics_enabled="CHUNK"),
)
# Appends write files of up to parquet_append.FILE_ROWS rows; compaction (consumer/maintenance.py) rewrites them
# into files of about this size.
TARGET_FILE_SIZE = 256 * 1024 * 1024
# commitInfo entry of every commit `write` makes: how many application transactions follow (a cut commit is noticed)
TXN_COUNT_KEY = "lakehouse.txns"
DAMAGE_HELP = "docs/bronze.md#damaged-lake-tables"
# path → version → (size, mtime) of the commit files verified in this process (re-read only when they change)
_VERIFIED: dict[str, dict[int, tuple[int, int]]] = {}


def open_table(path: Where) -> DeltaTable | None:
    """The Delta table at `path`, or None when there is none yet."""
    path = at(path)
    if not (path / "_delta_log").is_dir():
        return None
    try:
        table = load(path)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        if hint := store_problem(path, str(exc)):
            raise LakeError(hint) from None
        verify_log(path, None)  # names the damaged commit file, if that is the cause
        raise LakeError(
            f"Delta table {path} cannot be opened ({one_line(str(exc))}); check the folder or restore it "
            f"(see {DAMAGE_HELP})"
        ) from None
    verify_log(path, table.version())
    return table


def load(path: Where, *, version: int | None = None) -> DeltaTable:
    """delta-rs's handle on the table at `path` (with the storage options an object store needs)."""
    path = at(path)
    return DeltaTable(path.uri, version=version, storage_options=path.storage_options)


def verify_log(path: Where, version: int | None) -> None:
    """LakeError naming the first commit file, among those a reader replays (after the last checkpoint, up to
    `version` or the newest file), that cannot be a valid commit: empty, cut, unparsable, or holding fewer actions
    than its commitInfo counts. delta-rs 1.6.6 reads an empty or line-cut commit file as a version with fewer (or no)
    actions, silently."""
    path = at(path)
    log = path / "_delta_log"
    listed = log.files() if path.remote or version is None else None  # on S3 one listing, not a request per file
    newest = version if version is not None else max(commit_versions(listed or {}), default=-1)
    first = checkpoint_version(log) + 1
    verified = _VERIFIED.setdefault(str(path), {})
    for stale in [v for v in verified if v < first]:
        del verified[stale]
    for number in range(first, newest + 1):
        file = log / f"{number:020d}.json"
        seen = (listed.get(file.name) if listed is not None else file.stat()) or (-1, -1)
        if verified.get(number) == seen:
            continue
        problem = commit_problem(file)
        if problem:
            raise damaged(path, file, problem)
        verified[number] = seen


def commit_versions(names: Mapping[str, object]) -> list[int]:
    """The versions of the commit files among a `_delta_log` folder's file names."""
    return [int(name[:-5]) for name in names if name.endswith(".json") and name[:-5].isdigit()]


def damaged(path: Where, file: Where, problem: str) -> LakeError:
    """The one-line error for a damaged commit file."""
    key = f"{path.parent.name}/{path.name}"
    return LakeError(
        f"{key}: commit file {file} is damaged ({problem}); restore it from a backup, or if it is the "
        f"newest commit run python -m lake.repair {key} (see {DAMAGE_HELP})"
    )


def checkpoint_version(log: Where) -> int:
    """The version of the table's last checkpoint (-1: none): commit files up to it are not read any more."""
    try:
        return int(orjson.loads((at(log) / "_last_checkpoint").read_bytes())["version"])
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return -1


def commit_problem(file: Where) -> str | None:
    """Why a commit file cannot be a valid commit, or None."""
    try:
        text = at(file).read_bytes()
    except FileNotFoundError:
        return "missing, but later versions exist"
    return text_problem(text)


def text_problem(text: bytes) -> str | None:
    """Why a commit file's bytes cannot be a valid commit, or None."""
    if not text.strip():
        return "empty"
    try:
        actions = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except orjson.JSONDecodeError:
        return "cut or unparsable: a line is not JSON"
    info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    metrics = info.get("operationMetrics") or {}
    counts = {
        "add": sum("add" in a for a in actions),
        "remove": sum("remove" in a for a in actions),
        "txn": sum("txn" in a for a in actions),
    }
    expected = {
        "add": metrics.get("num_added_files", metrics.get("numFilesAdded", info.get(parquet_append.ADDS_KEY))),
        "remove": metrics.get("num_removed_files", metrics.get("numFilesRemoved")),
        "txn": info.get(TXN_COUNT_KEY),
    }
    for kind, want in expected.items():
        if want is not None and counts[kind] < int(want):
            return f"cut: holds {counts[kind]} of the {int(want)} {kind} actions its commitInfo counts"
    return None


def disk_full(exc: BaseException) -> bool:
    """Whether a failed write failed for lack of disk space (an OSError, or delta-rs's error text)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text


def one_line(message: str) -> str:
    """A message without the backtrace lines some native errors (delta-rs) append: first and last line only."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"


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

    path: Location
    table: DeltaTable | None

    def txn_version(self, app_id: str) -> int | None:
        return txn_version(self.table, app_id)


def snapshot(path: Where) -> Snapshot:
    """The table's current version, to plan a write on."""
    return Snapshot(at(path), open_table(path))


def read(path: Where, *, columns: Sequence[str] | None = None, version: int | None = None) -> pl.DataFrame:
    """The whole table (or some columns) as polars; an empty frame when the table does not exist."""
    table = open_table(path)
    if table is None:
        return pl.DataFrame()
    if version is not None:
        table.load_as_version(version)
    return pl.from_arrow(table.to_pyarrow_table(columns=list(columns) if columns else None))  # type: ignore[return-value]


def write(
    target: Where | Snapshot,
    data: pl.DataFrame | pa.Table,
    *,
    mode: Literal["append", "overwrite"] = "append",
    partition_by: Sequence[str] | None = None,
    predicate: str | None = None,
    app_transactions: Mapping[str, int] | None = None,
    metadata: Mapping[str, str] | None = None,
    configuration: Mapping[str, str] | None = None,
) -> None:
    """One atomic Delta commit of `data`, with progress markers (`app_transactions`) in the same commit.

    `predicate` with mode="overwrite" replaces only the matching rows (e.g. some partitions). Against a Snapshot
    the commit is conditional: delta-rs checks every commit made since that snapshot and raises CommitFailedError
    if one recorded any of the same application transactions, or (an overwrite) added or removed rows it replaces.
    A location (or Path) commits on the table as it is when the write starts. Appends of plainly partitioned rows
    are written by lake/parquet_append.py (pyarrow, in parallel), everything else by delta-rs.
    """
    arrow = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    txns = [Transaction(app_id, version, now_ms) for app_id, version in (app_transactions or {}).items()]
    planned = target if isinstance(target, Snapshot) else snapshot(target)
    base = (
        planned.table
        if planned.table is not None
        else _first_version(planned.path, arrow.schema, partition_by=partition_by, configuration=configuration)
    )
    meta = {**(metadata or {}), TXN_COUNT_KEY: str(len(txns))}
    if mode == "append" and parquet_append.supported(base, arrow, partition_by or ()):
        parquet_append.append(base, planned.path, arrow, partition_by=partition_by or (), txns=txns, metadata=meta)
        return
    write_deltalake(
        base,
        arrow,
        mode=mode,
        partition_by=list(partition_by) if partition_by else None,
        predicate=predicate,
        configuration=dict(configuration) if configuration else None,
        writer_properties=WRITER_PROPERTIES,
        commit_properties=CommitProperties(custom_metadata=meta, app_transactions=txns or None),
    )


def _first_version(
    path: Location, schema: pa.Schema, *, partition_by: Sequence[str] | None, configuration: Mapping[str, str] | None
) -> DeltaTable:
    """Version 0 of a new table, created empty, for a write planned on no table.

    delta-rs commits a creation even when another writer created the table at the same instant (the second one
    lands as version 1), so a first write cannot be made exclusive; instead it commits against the empty version 0
    and is conflict-checked against every commit after it, like any other write.
    """
    if path.local is not None:
        path.local.mkdir(parents=True, exist_ok=True)
    DeltaTable.create(
        path.uri,
        schema,
        mode="ignore",
        partition_by=list(partition_by) if partition_by else None,
        configuration=dict(configuration) if configuration else None,
        storage_options=path.storage_options,
    )
    return load(path, version=0)


def retry_on_conflict(
    operation: Callable[[], T], *, what: str, attempts: int = 20, base_delay_s: float = 0.05, max_delay_s: float = 2.0
) -> T:
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


def last_commit(path: Where) -> dict[str, object] | None:
    """Version, UTC time and operation of the table's latest commit, or None when there is no table."""
    table = open_table(path)
    return None if table is None else commit_info(table)


def commit_info(table: DeltaTable) -> dict[str, object]:
    """Version, UTC time and operation of the latest commit of an open table."""
    entry = table.history(1)[0]
    return {
        "version": table.version(),
        "timestamp": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
        "operation": entry.get("operation"),
    }


def log_actions(path: Where, version: int) -> list[dict] | None:
    """The actions of one commit of the table's log, None when that log file is gone (cleaned up)."""
    file = at(path) / "_delta_log" / f"{version:020d}.json"
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        return None
    problem = text_problem(text)
    if problem:
        raise damaged(path, file, problem)
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def data_changes(path: Where, version: int) -> list[tuple[Literal["add", "remove"], dict]] | None:
    """The file actions of one commit that change data, as (kind, action): compaction rewrites (dataChange false)
    are left out. None when that log file is gone."""
    actions = log_actions(path, version)
    if actions is None:
        return None
    return [
        (kind, action[kind])
        for action in actions
        for kind in ("add", "remove")
        if kind in action and action[kind].get("dataChange", True)
    ]


def add_actions(table: DeltaTable) -> pl.DataFrame:
    """The table's current data files, one row each: path, partition.<column>, num_records, min./max.<column>."""
    return pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))  # type: ignore[return-value]
