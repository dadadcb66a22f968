"""Records lost at the source: offsets of a partition that bronze expected next but Kafka no longer holds.

    python -m consumer.bronze.gaps [--ack]

The ingest expects each partition's offsets to follow on from the table's marker. A jump means records were
deleted before bronze read them (retention, `kafka-delete-records`: the offsets lie below the log start offset)
or are missing inside the log (compaction, or a transactional producer's commit markers). Each gap is recorded in
`bronze/gaps` before the bronze commit that moves past it, under a marker per partition (the last offset of the last
gap recorded), so a crash in between re-detects it and the rewrite is skipped: a gap is recorded once, never lost.
`--ack` acknowledges every gap recorded so far: `scripts/status.sh` then stops reporting them as a fault.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import polars as pl

from common.cli import run as run_cli
from common.cli import setup_logging
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)

Reason = Literal["deleted", "not_in_log"]


@dataclass(frozen=True)
class Gap:
    """Offsets first..last (inclusive) of one topic-partition that bronze will never hold."""

    topic: str
    partition: int
    first: int
    last: int
    reason: Reason

    @property
    def records(self) -> int:
        return self.last - self.first + 1


def jumps(offsets: Sequence[int], *, expected: int) -> list[tuple[int, int]]:
    """The runs of offsets missing from `offsets` (ascending, one poll's records of a partition), counting from
    `expected`: [(first, last)], vectorised."""
    values = np.asarray(offsets, dtype=np.int64)
    if values.size == 0:
        return []
    starts = np.concatenate(([expected], values[:-1] + 1))
    missing = values > starts
    return list(zip(starts[missing].tolist(), (values[missing] - 1).tolist(), strict=True))


def record(path: delta_io.Where, gaps: Sequence[Gap], *, now: datetime | None = None) -> list[Gap]:
    """Append the gaps the table does not hold yet (conditional on the snapshot its markers were read on); logs an
    ERROR per new gap and returns them."""
    if not gaps:
        return []

    def attempt() -> list[Gap]:
        planned = delta_io.snapshot(path)
        new = [g for g in gaps if g.last > (planned.txn_version(tables.gap_marker(g.topic, g.partition)) or -1)]
        if new:
            markers: dict[str, int] = {}
            for gap in new:
                marker = tables.gap_marker(gap.topic, gap.partition)
                markers[marker] = max(markers.get(marker, -1), gap.last)
            delta_io.write(planned, frame(new, detected_at=now or datetime.now(UTC)), app_transactions=markers)
        return new

    new = delta_io.retry_on_conflict(attempt, what=f"recording {len(gaps)} source gaps")
    for gap in new:
        logger.error(
            "records lost at the source: %s partition %d offsets %d..%d (%d records, %s) were gone before "
            "bronze read them; recorded in bronze/gaps",
            gap.topic,
            gap.partition,
            gap.first,
            gap.last,
            gap.records,
            gap.reason,
        )
    return new


def frame(gaps: Sequence[Gap], *, detected_at: datetime) -> pl.DataFrame:
    """Rows of bronze/gaps."""
    return pl.DataFrame(
        {
            "topic": [g.topic for g in gaps],
            "partition": [g.partition for g in gaps],
            "from_offset": [g.first for g in gaps],
            "to_offset": [g.last for g in gaps],
            "records": [g.records for g in gaps],
            "reason": [g.reason for g in gaps],
            "detected_at": [detected_at] * len(gaps),
        },
        schema=tables.GAPS.schema,
    )


@dataclass(frozen=True)
class GapSummary:
    """The gaps recorded, and those not acknowledged yet (gaps, records)."""

    gaps: int
    records: int
    open_gaps: int
    open_records: int


def summary(settings: Settings) -> GapSummary:
    """Counts of bronze/gaps; the open ones were detected after the latest acknowledgement."""
    table = delta_io.open_table(tables.GAPS.path(settings))
    if table is None:
        return GapSummary(0, 0, 0, 0)
    rows = pl.from_arrow(table.to_pyarrow_table(columns=["records", "detected_at"]))
    acked_ms = table.transaction_version(tables.GAPS_ACKNOWLEDGED)
    acked = datetime.fromtimestamp(acked_ms / 1000, UTC) if acked_ms is not None else None
    open_rows = rows if acked is None else rows.filter(pl.col("detected_at") > acked)  # type: ignore[union-attr]
    return GapSummary(
        rows.height,
        int(rows["records"].sum()),
        open_rows.height,  # type: ignore[union-attr]
        int(open_rows["records"].sum()),
    )


def acknowledge(settings: Settings, *, now: datetime | None = None) -> GapSummary:
    """Mark every gap recorded so far as acknowledged (a commit of no rows carrying the time)."""
    path = tables.GAPS.path(settings)
    moment = now or datetime.now(UTC)

    def attempt() -> None:
        planned = delta_io.snapshot(path)
        delta_io.write(
            planned,
            frame([], detected_at=moment),
            app_transactions={tables.GAPS_ACKNOWLEDGED: int(moment.timestamp() * 1000)},
        )

    delta_io.retry_on_conflict(attempt, what="acknowledging source gaps")
    return summary(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.bronze.gaps",
        description="List the records lost at the source (bronze/gaps), or acknowledge "
        "them so that scripts/status.sh stops reporting them.",
    )
    parser.add_argument("--ack", action="store_true", help="acknowledge every gap recorded so far")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    if args.ack:
        acknowledge(settings)
    table = delta_io.read(tables.GAPS.path(settings))
    with pl.Config(tbl_rows=-1, tbl_cols=-1):
        print(table.sort("detected_at") if not table.is_empty() else "no records lost at the source")
    done = summary(settings)
    print(f"{done.records} records lost in {done.gaps} gaps, {done.open_records} in {done.open_gaps} not acknowledged")
    return 0


if __name__ == "__main__":
    run_cli(main)
