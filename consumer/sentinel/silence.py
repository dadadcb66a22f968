"""Silent devices: a timer on event time, not on the wall clock, so a replay of old data is judged in its own time.

A device is silent once `silent_after_s` (SENTINEL_SILENCE_FACTOR × SENTINEL_EXPECTED_INTERVAL_S) have passed since
its last reading. The episode starts at last reading + silent_after_s and resolves at its next reading.

A device that comes back after a longer gap gets its episode (open and resolve) from its own two readings,
whatever any clock said: that part is deterministic. To open the episode *while* the device is still quiet, a
timer needs two clocks to agree:

- the stream's event time, the `Watermark`: the oldest of the partitions' newest event times, leaving out
  partitions that delivered nothing for SENTINEL_IDLE_PARTITION_S of wall time (a partition whose devices all went
  quiet must not stop it), has passed last reading + limit; and
- nothing from the device has *arrived* for `silent_after_s` of the process's monotonic clock (`heard`, not
  persisted: a restart counts from its start). Readings of one partition are not in event-time order across
  devices (two replays, a slow gateway), so event time alone would call a device silent whose readings are
  merely queued behind others.

The timer's episode starts at last reading + limit, as the gap rule's would, so both produce the same ids. If the
whole fleet stops, the event-time clock stops with it: no device is declared silent against the wall clock, and a
replay of old data is judged in its own time.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import polars as pl

from config.alert_rules import SILENT
from consumer.sentinel.changes import CHANGE_COLUMNS, with_ids
from lake.tables import UTC_TS

DEVICE_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "home_id": pl.String(),
    "device_type": pl.String(),
    "last_seen": UTC_TS,
    "silent_since": UTC_TS,
    "heard": pl.Float64(),
}


class Watermark:
    """The silence clock over the partitions this process reads (see the module doc)."""

    def __init__(self, newest: dict[int, datetime] | None = None, *, idle_s: float) -> None:
        self.newest = dict(newest or {})
        self.idle_s = idle_s
        now = time.monotonic()
        self.heard = dict.fromkeys(self.newest, now)

    def advance(self, newest: dict[int, datetime], *, now: float | None = None) -> None:
        """Record each partition's newest event time of a batch."""
        now = time.monotonic() if now is None else now
        for partition, at in newest.items():
            self.newest[partition] = max(at, self.newest.get(partition, at))
            self.heard[partition] = now

    def value(self, *, now: float | None = None) -> datetime | None:
        now = time.monotonic() if now is None else now
        live = [self.newest[p] for p, heard in self.heard.items() if now - heard < self.idle_s]
        return min(live) if live else None


def empty_devices() -> pl.DataFrame:
    return pl.DataFrame(schema=DEVICE_SCHEMA)


def step(
    events: pl.DataFrame, devices: pl.DataFrame, clock: datetime | None, *, silent_after_s: float, now: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The silent-episode changes of a batch and the clocks (CHANGE_COLUMNS with ids), and the devices' new state.

    `clock` is the watermark's event time, `now` the monotonic second the batch arrived."""
    limit = timedelta(seconds=silent_after_s)
    seen = (
        events.lazy()
        .select("device_id", "home_id", "device_type", "event_time", "event_id")
        .join(
            devices.lazy().select("device_id", s_seen="last_seen", s_silent="silent_since"), on="device_id", how="left"
        )
        .sort("device_id", "event_time", "event_id")
        .with_columns(
            first=pl.col("event_time").cum_count().over("device_id") == 1,
            previous=pl.col("event_time").shift(1).over("device_id"),
        )
        .with_columns(previous=pl.when("first").then("s_seen").otherwise("previous"))
        .with_columns(
            open_before=pl.col("first") & pl.col("s_silent").is_not_null(),
            gap=(pl.col("event_time") - pl.col("previous")) > limit,
        )
        .filter(pl.col("open_before") | pl.col("gap").fill_null(False))
        .collect()
    )
    start = pl.coalesce(pl.when("open_before").then("s_silent"), pl.col("previous") + limit)
    common = {
        "kind": pl.lit(SILENT),
        "started_at": start,
        "value": (pl.col("event_time") - pl.col("previous")).dt.total_milliseconds() / 1000,
        "peak": pl.lit(None, pl.Float64),
        "threshold": pl.lit(silent_after_s),
        "bucket": pl.lit(None, pl.Int64),
    }
    opened = seen.filter(~pl.col("open_before")).select(
        "device_id",
        "home_id",
        "device_type",
        change=pl.lit("open"),
        changed_at=start,
        resolved_at=pl.lit(None, UTC_TS),
        event_id=pl.lit(None, pl.String),
        **common,
    )
    resolved = seen.select(
        "device_id",
        "home_id",
        "device_type",
        change=pl.lit("resolve"),
        changed_at="event_time",
        resolved_at="event_time",
        event_id="event_id",
        **common,
    )
    latest = (
        events.group_by("device_id")
        .agg(pl.col("home_id", "device_type", "event_time").sort_by("event_time").last())
        .rename({"event_time": "last_seen"})
    )
    state = (
        pl.concat(
            [
                devices.join(latest, on="device_id", how="anti"),
                latest.with_columns(silent_since=pl.lit(None, UTC_TS), heard=pl.lit(now)),
            ],
            how="diagonal_relaxed",
        )
        .select(list(DEVICE_SCHEMA))
        .cast(DEVICE_SCHEMA)
    )
    timer, state = _timer(state, clock, limit=limit, silent_after_s=silent_after_s, now=now)
    changes = pl.concat([f.select(list(CHANGE_COLUMNS)) for f in (opened, resolved, timer)]).cast(CHANGE_COLUMNS)
    return with_ids(changes.sort("changed_at", "device_id", "change")), state.sort("device_id")


def _timer(
    state: pl.DataFrame, clock: datetime | None, *, limit: timedelta, silent_after_s: float, now: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Open the episodes of devices both clocks have passed by more than the limit; mark them open in the state."""
    due = (
        (
            pl.col("silent_since").is_null()
            & (pl.col("last_seen") + limit < clock)
            & (now - pl.col("heard").fill_null(now) > silent_after_s)
        )
        if clock is not None
        else pl.lit(False)
    )
    state = state.with_columns(due=due)
    opened = state.filter("due").select(
        "device_id",
        "home_id",
        "device_type",
        kind=pl.lit(SILENT),
        change=pl.lit("open"),
        started_at=pl.col("last_seen") + limit,
        changed_at=pl.col("last_seen") + limit,
        resolved_at=pl.lit(None, UTC_TS),
        value=pl.lit(None, pl.Float64),
        peak=pl.lit(None, pl.Float64),
        threshold=pl.lit(silent_after_s),
        event_id=pl.lit(None, pl.String),
        bucket=pl.lit(None, pl.Int64),
    )
    state = state.with_columns(
        silent_since=pl.when("due").then(pl.col("last_seen") + limit).otherwise("silent_since")
    ).drop("due")
    return opened, state
