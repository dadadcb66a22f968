"""Gold's Delta I/O: which event dates silver commits touched, partition-pruned silver reads, partition replacement."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from common import delta_io
from config.settings import Settings

logger = logging.getLogger(__name__)

SILVER_COLUMNS = ("event_id", "device_id", "home_id", "device_type", "home_name", "location", "event_time",
                  "event_date", "status", "alert", "temperature_c", "power_w", "energy_wh", "battery_pct", "warnings")
QUARANTINE_COLUMNS = ("quarantine_date", "failed_rules")


def silver_path(settings: Settings) -> Path:
    return settings.table_path("silver", "telemetry")


def quarantine_path(settings: Settings) -> Path:
    return settings.table_path("silver", "quarantine")


def gold_path(settings: Settings, table: str) -> Path:
    return settings.table_path("gold", table)


def app_id(table: str, source: str = "silver") -> str:
    """Progress marker of a gold table: `gold:<table>` for silver/telemetry, `gold:<table>:quarantine` for quarantine."""
    return f"gold:{table}" if source == "silver" else f"gold:{table}:{source}"


def consumed(settings: Settings, table: str, source: str = "silver") -> int | None:
    """The source version the gold table last recorded, None when it has none yet."""
    return delta_io.txn_version(delta_io.open_table(gold_path(settings, table)), app_id(table, source))


def _partition_files(table: DeltaTable, column: str) -> pl.DataFrame:
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    return actions.select("path", pl.col(f"partition.{column}").alias("date"))  # type: ignore[union-attr]


def touched_dates(table: DeltaTable, path: Path, column: str, since: int | None) -> set[date]:
    """Partition dates whose files changed between version `since` and `table`'s version (all when since is None).

    Comparing the two snapshots' file lists covers appends, overwrites, deletes and compactions alike; a version
    whose log was cleaned up falls back to every date.
    """
    current = _partition_files(table, column)
    if since is not None and since >= table.version():
        return set()
    if since is None:
        return set(current["date"].drop_nulls())
    try:
        before = _partition_files(DeltaTable(str(path), version=since), column)
    except (DeltaError, OSError) as exc:
        logger.warning("%s version %d cannot be loaded (%s); recomputing every date", path, since, exc)
        return set(current["date"].drop_nulls())
    changed = pl.concat([current.join(before, on="path", how="anti"), before.join(current, on="path", how="anti")])
    return set(changed["date"].drop_nulls())


def read_dates(table: DeltaTable | None, column: str, dates: Iterable[date], columns: Iterable[str]) -> pl.DataFrame:
    """The rows of the given partition dates (only those files are read), only `columns`; empty without a table."""
    if table is None:
        return pl.DataFrame()
    wanted = sorted(dates)
    return pl.scan_delta(table).filter(pl.col(column).is_in(wanted)).select(list(columns)).collect()


def date_predicate(column: str, dates: Iterable[date]) -> str:
    """SQL predicate selecting the given dates of `column`."""
    listed = ", ".join(f"'{d.isoformat()}'" for d in sorted(dates))
    return f"{column} IN ({listed})"


def replace(settings: Settings, table: str, frame: pl.DataFrame, *, predicate: str | None,
            versions: Mapping[str, int], partition_by: tuple[str, ...] = (), always: bool = False) -> None:
    """Replace the rows matching `predicate` (all rows when None) with `frame` and record the source versions.

    One atomic commit; retried on a concurrent commit. Skipped when the table already recorded these versions or
    later (a concurrent run wrote the same rows), unless `always` (tables that depend on the clock).
    """
    path = gold_path(settings, table)
    markers = {app_id(table, source): version for source, version in versions.items()}

    def commit() -> None:
        current = delta_io.open_table(path)
        if not always and current is not None and all((delta_io.txn_version(current, a) or -1) >= v for a, v in markers.items()):
            return
        exists = current is not None
        delta_io.write(path, frame, mode="overwrite", predicate=predicate if exists else None,
                       partition_by=partition_by or None, app_transactions=markers)

    delta_io.retry_on_conflict(commit, what=f"gold/{table}")
