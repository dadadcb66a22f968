"""The sentinel's two Delta tables: gold/alert_episodes (every change, exactly once) and gold/sentinel_state.

- `append` writes a batch's changes in one commit that records, per telemetry partition, the last offset the batch
  read (application transactions `sentinel:<topic>:<partition>`, like bronze), after dropping changes whose
  change_id the table already holds (a restart recomputes the changes after the last snapshot).
- `snapshot` overwrites the state table with the carried conditions and the devices' last readings, recording the
  offsets they reflect (`sentinel-state:<topic>:<partition>`), the silence clock per partition, the last batch
  number and the last batch published to Kafka (application transactions too, so a compaction keeps them).
- `load` reads that snapshot back; the sentinel seeks to its offsets and re-reads from there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from config.settings import Settings
from consumer.sentinel.episodes import CONDITION_SCHEMA, KEY, empty_conditions
from consumer.sentinel.silence import DEVICE_SCHEMA, empty_devices
from lake import delta_io, tables

logger = logging.getLogger(__name__)

BATCH = "sentinel-state:batch"
PUBLISHED = "sentinel-state:published"
WATERMARK = "sentinel-state:watermark:{topic}:{partition}"  # epoch µs


@dataclass
class Snapshot:
    """The sentinel's state as of `offsets` (None: never snapshotted)."""

    conditions: pl.DataFrame = field(default_factory=empty_conditions)
    devices: pl.DataFrame = field(default_factory=empty_devices)
    offsets: dict[int, int] = field(default_factory=dict)
    watermarks: dict[int, datetime] = field(default_factory=dict)
    batch: int = 0
    published: int = 0


class Store:
    """The episodes and state tables of one lake, for the partitions of one topic."""

    def __init__(self, settings: Settings, *, partitions: int) -> None:
        self.topic = settings.telemetry_topic
        self.partitions = range(partitions)
        self.episodes = tables.ALERT_EPISODES.path(settings)
        self.state = tables.SENTINEL_STATE.path(settings)
        self.known: set[str] = set()  # change ids a restart may recompute

    def load(self) -> Snapshot:
        """The last snapshot (empty when there is none), and the ids of the changes committed after it."""
        table = delta_io.open_table(self.state)
        if table is None:
            snapshot = Snapshot()
        else:
            rows = pl.from_arrow(table.to_pyarrow_table())
            offsets = {p: delta_io.txn_version(table, self._marker(tables.SENTINEL_STATE, p)) for p in self.partitions}
            marks = {
                p: delta_io.txn_version(table, WATERMARK.format(topic=self.topic, partition=p)) for p in self.partitions
            }
            conditions = rows.filter(pl.col("kind").is_not_null())  # type: ignore[union-attr]
            devices = rows.filter(pl.col("kind").is_null())  # type: ignore[union-attr]
            devices = devices.with_columns(heard=pl.lit(time.monotonic()))
            snapshot = Snapshot(
                conditions=conditions.select(list(CONDITION_SCHEMA)),
                devices=devices.select(list(DEVICE_SCHEMA)),
                offsets={p: o for p, o in offsets.items() if o is not None},
                watermarks={p: datetime.fromtimestamp(m / 1e6, UTC) for p, m in marks.items() if m is not None},
                batch=delta_io.txn_version(table, BATCH) or 0,
                published=delta_io.txn_version(table, PUBLISHED) or 0,
            )
        self.known = set(self.after(snapshot.batch)["change_id"].to_list())
        return snapshot

    def after(self, batch: int) -> pl.DataFrame:
        """The changes committed by batches after `batch` (in commit order)."""
        rows = delta_io.read(self.episodes)
        if rows.is_empty():
            return pl.DataFrame(schema=tables.ALERT_EPISODES.schema)
        return rows.filter(pl.col("batch") > batch).sort("batch", "changed_at")

    def append(self, changes: pl.DataFrame, *, offsets: dict[int, int], batch: int) -> pl.DataFrame:
        """Commit the changes not yet in the table with the partitions' offsets; returns the rows written.

        The commit is conditional on the snapshot it was planned on: if another commit recorded one of these
        partitions in between (a second sentinel), the ids it wrote are read and the batch is planned again."""
        retry = False

        def attempt() -> pl.DataFrame:
            nonlocal retry
            planned = delta_io.snapshot(self.episodes)
            if retry:  # after a conflicting commit: learn the ids it wrote
                self.known |= set(self.after(0)["change_id"].to_list())
            retry = True
            fresh = changes.filter(~pl.col("change_id").is_in(list(self.known))) if self.known else changes
            if fresh.is_empty():
                return fresh
            rows = fresh.with_columns(batch=pl.lit(batch, pl.Int64), recorded_at=pl.lit(datetime.now(UTC)))
            rows = rows.select(list(tables.ALERT_EPISODES.schema)).cast(tables.ALERT_EPISODES.schema)
            markers = {self._marker(tables.ALERT_EPISODES, p): o for p, o in offsets.items()}
            delta_io.write(
                planned, rows, app_transactions=markers, metadata={"writer": "sentinel", "rows": str(rows.height)}
            )
            return rows

        return delta_io.retry_on_conflict(attempt, what=f"sentinel commit of {changes.height} changes")

    def snapshot(self, snapshot: Snapshot) -> None:
        """Replace the state table with `snapshot` (one commit, its positions as application transactions)."""
        rows = pl.concat([snapshot.conditions, snapshot.devices], how="diagonal_relaxed")
        rows = (
            rows.select(list(tables.SENTINEL_STATE.schema))
            .cast(tables.SENTINEL_STATE.schema)
            .sort("device_id", *KEY[1:], nulls_last=False)
        )
        markers = {self._marker(tables.SENTINEL_STATE, p): o for p, o in snapshot.offsets.items()}
        markers |= {
            WATERMARK.format(topic=self.topic, partition=p): int(at.timestamp() * 1e6)
            for p, at in snapshot.watermarks.items()
        }
        markers |= {BATCH: snapshot.batch, PUBLISHED: snapshot.published}
        delta_io.retry_on_conflict(
            lambda: delta_io.write(
                delta_io.snapshot(self.state),
                rows,
                mode="overwrite",
                app_transactions=markers,
                metadata={"writer": "sentinel"},
            ),
            what="sentinel state snapshot",
        )

    def _marker(self, table: tables.Table, partition: int) -> str:
        return table.marker(tables.KAFKA).format(topic=self.topic, partition=partition)
