"""Gold's Delta I/O: which event dates silver commits touched, partition-pruned silver reads, partition replacement."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import unquote

import orjson
import polars as pl
from deltalake import DeltaTable

from config.location import Location
from config.settings import Settings
from lake import delta_io, tables
from lake.tables import UTC_TS

logger = logging.getLogger(__name__)

# The silver columns gold reads (types from the registry), and the quarantine columns it counts.
SILVER_COLUMNS = (
    "event_id",
    "device_id",
    "home_id",
    "device_type",
    "home_name",
    "location",
    "event_time",
    "event_date",
    "status",
    "alert",
    "temperature_c",
    "power_w",
    "energy_wh",
    "battery_pct",
    "co_ppm",
    "smoke_ppm",
    "warnings",
)
QUARANTINE_TYPES = {c: tables.QUARANTINE.schema[c] for c in ("quarantine_date", "failed_rules")}
ALL_HOURS = frozenset(range(24))


def consumed(settings: Settings, table: tables.Table, source: tables.Table = tables.SILVER) -> int | None:
    """The version of `source` the gold table last recorded, None when it has none yet."""
    return delta_io.txn_version(delta_io.open_table(table.path(settings)), table.marker(source.key))


def _time_range(entry: dict, time_column: str | None) -> tuple[datetime, datetime] | None:
    """The min and max of `time_column` over a file's rows, from its statistics (None without them)."""
    stats = orjson.loads(entry.get("stats") or "{}") if time_column else {}
    low = stats.get("minValues", {}).get(time_column)
    high = stats.get("maxValues", {}).get(time_column)
    if not low or not high:
        return None
    return datetime.fromisoformat(low).astimezone(UTC), datetime.fromisoformat(high).astimezone(UTC)


def _hours(entry: dict, day: date, time_column: str | None) -> set[int]:
    """Hours of `day` a file's rows may fall in, from its min/max statistics (every hour without them)."""
    span = _time_range(entry, time_column)
    if span is None:
        return set(ALL_HOURS)
    low_t, high_t = span
    first = low_t.hour if low_t.date() == day else 0
    last = high_t.hour if high_t.date() == day else 23
    return set(range(first, last + 1))


def _file_changes(table: DeltaTable, path: Location, since: int) -> list[tuple[str, dict]] | None:
    """The data-changing file actions of the commits after version `since`; None when a commit's log is gone."""
    changes: list[tuple[str, dict]] = []
    for version in range(since + 1, table.version() + 1):
        actions = delta_io.data_changes(path, version)
        if actions is None:
            logger.warning("%s: log of version %d is gone; recomputing every date", path, version)
            return None
        changes += actions
    return changes


def touched_hours(
    table: DeltaTable, path: Location, *, partition: str, time_column: str | None, since: int | None
) -> dict[date, set[int]]:
    """Event date → hours whose rows changed in commits after version `since` (every hour of every date when None).

    Reads the commits' add/remove actions; commits that change no data (compaction) are skipped. A removed file
    touches its whole date. A commit whose log file was cleaned up falls back to everything.
    """
    if since is not None and since >= table.version():
        return {}
    if since is None:
        return _everything(table, partition)
    changes = _file_changes(table, path, since)
    if changes is None:
        return _everything(table, partition)
    touched: dict[date, set[int]] = defaultdict(set)
    for kind, entry in changes:
        value = entry.get("partitionValues", {}).get(partition)
        if not value:
            continue
        day = date.fromisoformat(value)
        touched[day] |= _hours(entry, day, time_column) if kind == "add" else set(ALL_HOURS)
    return dict(touched)


def touched_minutes(
    table: DeltaTable, path: Location, *, since: int | None
) -> dict[datetime, tuple[datetime, datetime]]:
    """Hour start → the minutes [first, end) of it whose silver rows changed in commits after version `since`, for
    the hours only part of which changed (from the added files' event_time statistics). An hour not listed changed
    whole, or is not known to have changed only in part (a removed file, a file without statistics, a log cleaned
    up, `since` None)."""
    changes = None if since is None else _file_changes(table, path, since)
    spans: dict[datetime, tuple[datetime, datetime]] = {}
    for kind, entry in changes or []:
        value = entry.get("partitionValues", {}).get("event_date")
        if not value:
            continue
        day = datetime.combine(date.fromisoformat(value), time(0), UTC)
        low, high = (kind == "add" and _time_range(entry, "event_time")) or (day, day + timedelta(days=1))
        hour = low.replace(minute=0, second=0, microsecond=0)
        while hour <= high and hour < day + timedelta(days=1):
            first = max(low, hour).replace(second=0, microsecond=0)
            end = min(high.replace(second=0, microsecond=0) + timedelta(minutes=1), hour + timedelta(hours=1))
            old = spans.get(hour, (first, end))
            spans[hour] = (min(old[0], first), max(old[1], end))
            hour += timedelta(hours=1)
    return {hour: span for hour, span in spans.items() if span != (hour, hour + timedelta(hours=1))}


def _everything(table: DeltaTable, partition: str) -> dict[date, set[int]]:
    return {d: set(ALL_HOURS) for d in delta_io.add_actions(table)[f"partition.{partition}"].drop_nulls()}


def hour_starts(touched: Mapping[date, Iterable[int]]) -> list[datetime]:
    """The start of every touched hour, sorted."""
    return sorted(datetime.combine(d, time(h), UTC) for d, hours in touched.items() for h in hours)


def _file_ranges(table: DeltaTable) -> pl.DataFrame:
    """Every data file: path, and the min/max event_time of its rows (null without statistics)."""
    actions = delta_io.add_actions(table)

    def stat(name: str) -> pl.Expr:
        return pl.col(name).cast(UTC_TS) if name in actions.columns else pl.lit(None, UTC_TS)

    return actions.select("path", low=stat("min.event_time"), high=stat("max.event_time"))


def read_hours(
    table: DeltaTable, path: Location, touched: Mapping[date, Iterable[int]], columns: Iterable[str]
) -> pl.DataFrame:
    """Silver rows of the touched hours, reading only files whose event_time range overlaps one of them."""
    columns, starts = list(columns), hour_starts(touched)
    hours = pl.DataFrame({"start": starts}, schema={"start": UTC_TS})
    overlap = (
        pl.col("low").is_null()
        | pl.col("high").is_null()
        | ((pl.col("low") < pl.col("start") + pl.duration(hours=1)) & (pl.col("high") >= pl.col("start")))
    )
    files = _file_ranges(table).join(hours, how="cross").filter(overlap)["path"].unique().sort()
    if files.is_empty():
        return pl.DataFrame(schema={c: tables.SILVER.schema[c] for c in columns})
    return (
        pl.scan_parquet(
            [str(path / unquote(f)) for f in files], hive_partitioning=False, storage_options=path.storage_options
        )
        .select([c for c in columns if c != "event_date"])
        .filter(
            pl.col("event_time").is_between(starts[0], starts[-1] + timedelta(hours=1), closed="left")
            & pl.col("event_time").dt.truncate("1h").is_in(starts)
        )
        .with_columns(event_date=pl.col("event_time").dt.date())
        .select(columns)
        .collect()
    )


def read_dates(
    table: DeltaTable | None, column: str, dates: Iterable[date], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """The rows of the given partition dates (only those files are read), in `schema`'s columns; empty without table."""
    if table is None:
        return pl.DataFrame(schema=dict(schema))
    return (
        pl.scan_delta(table)
        .filter(pl.col(column).is_in(sorted(dates)))
        .select(list(schema))
        .collect()
        .cast(dict(schema))
    )


def date_predicate(column: str, dates: Iterable[date]) -> str:
    """SQL predicate selecting the given dates of `column` ("false" for none)."""
    listed = ", ".join(f"'{d.isoformat()}'" for d in sorted(dates))
    return f"{column} IN ({listed})" if listed else "false"


def hours_predicate(column: str, touched: Mapping[date, Iterable[int]]) -> str:
    """SQL predicate selecting the touched hours of the timestamp `column` (consecutive hours of a date merged)."""
    ranges: list[tuple[datetime, datetime]] = []
    for start in hour_starts(touched):
        if ranges and ranges[-1][1] == start and ranges[-1][0].date() == start.date():
            ranges[-1] = (ranges[-1][0], start + timedelta(hours=1))
        else:
            ranges.append((start, start + timedelta(hours=1)))
    clauses = [
        f"(date = '{a.date().isoformat()}' AND {column} >= '{a:%Y-%m-%dT%H:%M:%SZ}' AND "
        f"{column} < '{b:%Y-%m-%dT%H:%M:%SZ}')"
        for a, b in ranges
    ]
    return " OR ".join(clauses) or "false"


def hour_partitions_predicate(touched: Mapping[date, Iterable[int]]) -> str:
    """SQL predicate selecting the touched (date, hour) partitions: whole files, none of them read or rewritten."""
    clauses = [
        f"(date = '{d.isoformat()}' AND hour IN ({', '.join(map(str, sorted(hours)))}))"
        for d, hours in sorted(touched.items())
        if hours
    ]
    return " OR ".join(clauses) or "false"


def minutes_predicate(spans: Mapping[datetime, tuple[datetime, datetime]]) -> str:
    """SQL predicate selecting the minute rows of each span (date, hour partitions and `minute` [first, end))."""
    clauses = [
        f"(date = '{hour.date().isoformat()}' AND hour = {hour.hour} AND minute >= '{first:%Y-%m-%dT%H:%M:%SZ}' "
        f"AND minute < '{end:%Y-%m-%dT%H:%M:%SZ}')"
        for hour, (first, end) in sorted(spans.items())
    ]
    return " OR ".join(clauses) or "false"


def replace(
    settings: Settings,
    table: tables.Table,
    frame: pl.DataFrame,
    *,
    predicate: str | None,
    versions: Mapping[str, int],
    always: bool = False,
    record: bool = True,
) -> None:
    """Replace the rows matching `predicate` (all rows when None) with `frame` and record the source versions
    (`record` False: checked as below, but not recorded; a later commit of the same run records them).

    One atomic commit, against the snapshot the recorded versions were checked on: a concurrent run's commit in
    between makes it fail, and it is checked again. Skipped when the table recorded a newer source version (the
    frame would take it back), or these very versions unless `always` (tables that depend on the clock).
    `versions`: source table key → the version the rows were computed from.
    """
    path = table.path(settings)
    markers = {table.marker(source): version for source, version in versions.items()}

    def commit() -> None:
        current = delta_io.snapshot(path)
        recorded = {marker: current.txn_version(marker) for marker in markers}
        if any(v is not None and v > markers[m] for m, v in recorded.items()):
            return
        if not always and all(v == markers[m] for m, v in recorded.items()):
            return
        delta_io.write(
            current,
            frame,
            mode="overwrite",
            predicate=predicate if current.table is not None else None,
            partition_by=table.partition_by or None,
            app_transactions=markers if record else None,
        )

    delta_io.retry_on_conflict(commit, what=table.key)
