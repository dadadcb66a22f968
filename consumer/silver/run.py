"""Bronze → silver: one incremental run that validates, deduplicates and enriches the bronze commits it has not seen.

    python -m consumer.silver [--max-chunk-rows N]

Bronze versions are processed in chunks. For each chunk the quarantine, the telemetry and the run log are
written in that order, each commit recording the last bronze version it covers (app_id `silver:bronze`), so a
crash at any point leaves a chunk that the next run finishes with the same boundaries, skipping the tables that
already hold it. Each commit is made against the snapshot its marker was read on: a concurrent run's commit in
between makes it fail, and the chunk is planned again. Every chunk reconciles: bronze rows = silver rows +
quarantined + duplicates removed. Run by hand it holds the ETL lease (lake/lease.py): refused while a scheduler
holds it.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import polars as pl

from common.cli import setup_logging
from common.clock import Clock, SystemClock
from config.settings import Settings
from consumer.silver import storage as silver_io
from consumer.silver.parse import parse_values
from consumer.silver.rules import Rule
from consumer.silver.rules import rules as silver_rules
from consumer.silver.transforms import (
    CONFLICT_RULE,
    apply_rules,
    checked_events,
    classify_arrivals,
    quarantine_conflicts,
    silver_quarantine,
    silver_telemetry,
)
from lake import delta_io, tables
from lake.devices import load_catalog
from lake.lease import run_holding

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 2_000_000


@dataclass
class SilverRunResult:
    """What one run read and wrote; counts sum over its chunks."""

    bronze_version_from: int | None = None
    bronze_version_to: int | None = None
    bronze_rows: int = 0
    silver_rows: int = 0
    quarantined_rows: int = 0
    duplicate_rows: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.bronze_rows / self.seconds if self.seconds > 0 else 0.0

    def add(self, chunk: silver_io.Chunk, counts: dict[str, int], rule_counts: dict[str, int]) -> None:
        self.bronze_version_from = chunk.first if self.bronze_version_from is None else self.bronze_version_from
        self.bronze_version_to = chunk.last
        self.bronze_rows += counts["bronze_rows"]
        self.silver_rows += counts["silver_rows"]
        self.quarantined_rows += counts["quarantined_rows"]
        self.duplicate_rows += counts["duplicate_rows"]
        for name, n in rule_counts.items():
            self.rule_counts[name] = self.rule_counts.get(name, 0) + n
        self.chunks += 1


def run(settings: Settings, *, clock: Clock | None = None, max_chunk_rows: int = DEFAULT_CHUNK_ROWS) -> SilverRunResult:
    """Process every bronze commit silver has not seen yet; a no-op when there is none."""
    clock = clock or SystemClock()
    started = time.perf_counter()
    result = SilverRunResult()
    bronze = delta_io.open_table(tables.BRONZE.path(settings))
    if bronze is None:
        logger.debug("silver: no bronze table at %s yet; nothing to do", tables.BRONZE.path(settings))
        return result
    target = bronze.version()
    catalog = load_catalog(settings)
    rules = silver_rules(settings)

    def step() -> bool:
        """Plan the next chunk on the silver tables' current snapshots and process it; False when none is left."""
        state = silver_io.progress(settings)
        chunk = silver_io.next_chunk(tables.BRONZE.path(settings), state.marks, target, max_rows=max_chunk_rows)
        if chunk is not None:
            _process(settings, chunk, state, catalog, rules, clock, result)
        return chunk is not None

    while delta_io.retry_on_conflict(step, what="silver chunk"):
        pass
    result.seconds = time.perf_counter() - started
    if result.chunks:
        logger.info(
            "silver: bronze versions %s..%s: %d rows → %d silver, %d quarantined, %d duplicates in %.2fs (%.0f rows/s)",
            result.bronze_version_from,
            result.bronze_version_to,
            result.bronze_rows,
            result.silver_rows,
            result.quarantined_rows,
            result.duplicate_rows,
            result.seconds,
            result.rate,
        )
    else:
        logger.debug("silver: up to date with bronze version %d", target)
    return result


def _process(
    settings: Settings,
    chunk: silver_io.Chunk,
    state: silver_io.Progress,
    catalog: pl.DataFrame,
    rules: tuple[Rule, ...],
    clock: Clock,
    result: SilverRunResult,
) -> None:
    """Validate, deduplicate and write one chunk; skip the tables whose progress marks say already hold it."""
    started_at = clock.now()
    raw = silver_io.read_chunk(tables.BRONZE.path(settings), chunk)
    rows: pl.DataFrame = pl.from_arrow(raw)  # type: ignore[assignment]
    checked = checked_events(rows, pl.from_arrow(parse_values(raw["value"])), catalog)  # type: ignore[arg-type]
    ruled = apply_rules(checked, rules)
    valid = ruled.rows.filter(pl.col("quarantine_mask") == 0)
    known = silver_io.known_events(state.snapshots[tables.SILVER.name], valid)
    arrivals = classify_arrivals(valid, known)
    conflicts = quarantine_conflicts(arrivals, rules)
    rejected = pl.concat([ruled.rows.filter(pl.col("quarantine_mask") != 0), conflicts])
    new = arrivals.filter(pl.col("arrival") == "new").drop("arrival")
    rule_counts = {**ruled.counts, CONFLICT_RULE: ruled.counts[CONFLICT_RULE] + conflicts.height}
    counts = {
        "bronze_rows": rows.height,
        "silver_rows": new.height,
        "quarantined_rows": rejected.height,
        "duplicate_rows": rows.height - rejected.height - new.height,
    }
    if state.marks["quarantine"] < chunk.last and not rejected.is_empty():
        _write(state, tables.QUARANTINE, silver_quarantine(rejected, rules, quarantined_at=started_at), chunk)
    fresh = new if known.is_empty() else new.filter(~pl.col("event_id").is_in(known["event_id"].implode()))
    if state.marks["telemetry"] < chunk.last and not fresh.is_empty():
        _write(state, tables.SILVER, silver_telemetry(fresh, catalog, rules, settings), chunk)
    _write(
        state,
        tables.RUN_LOG,
        run_log_row(chunk, counts, rule_counts, started_at=started_at, finished_at=clock.now()),
        chunk,
    )
    result.add(chunk, counts, rule_counts)
    logger.debug(
        "silver: chunk of bronze versions %d..%d: %d rows → %d silver, %d quarantined, %d duplicates",
        chunk.first,
        chunk.last,
        *counts.values(),
    )


def _write(state: silver_io.Progress, table: tables.Table, frame: pl.DataFrame, chunk: silver_io.Chunk) -> None:
    """Commit the chunk's rows of one table against the snapshot its marker was read on (CommitFailedError when
    another run committed to it since)."""
    delta_io.write(
        state.snapshots[table.name],
        frame,
        partition_by=table.partition_by,
        app_transactions={table.marker(): chunk.last},
    )


def run_log_row(
    chunk: silver_io.Chunk,
    counts: dict[str, int],
    rule_counts: dict[str, int],
    *,
    started_at: datetime,
    finished_at: datetime,
) -> pl.DataFrame:
    """One silver run over one chunk and its reconciliation."""
    reconciled = counts["bronze_rows"] == counts["silver_rows"] + counts["quarantined_rows"] + counts["duplicate_rows"]
    if not reconciled:
        logger.error("silver: bronze versions %d..%d do not reconcile: %s", chunk.first, chunk.last, counts)
    return pl.DataFrame(
        {
            "run_id": [str(uuid.uuid4())],
            "started_at": [started_at],
            "finished_at": [finished_at],
            "bronze_version_from": [chunk.first],
            "bronze_version_to": [chunk.last],
            **{name: [n] for name, n in counts.items()},
            "rule_counts": [orjson.dumps(rule_counts).decode()],
            "reconciled": [reconciled],
        },
        schema=tables.RUN_LOG.schema,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.silver",
        description="One incremental bronze → silver run: validate, deduplicate and "
        "enrich the bronze commits silver has not seen yet.",
    )
    parser.add_argument(
        "--max-chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="N",
        help=f"bronze rows processed per commit (default {DEFAULT_CHUNK_ROWS:,})",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    run_holding(settings, lambda: run(settings, max_chunk_rows=args.max_chunk_rows))
    return 0
