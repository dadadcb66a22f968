"""Maintenance compacts small files without changing data or progress markers, and vacuums only what is old."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from consumer import maintenance
from consumer.bronze.batch import append_batch
from lake import delta_io, tables
from tests.conftest import REPO
from tests.consumer.bronze.test_ingest import _batch
from tests.kafka_helpers import bronze_rows, env_of


def _parquet_files(path):
    return sorted(p for p in path.rglob("*.parquet") if "_delta_log" not in p.parts)


def test_compaction_keeps_rows_and_offsets_and_vacuum_respects_retention(settings):
    path = Path(tables.BRONZE.path(settings))
    for start in range(0, 50, 10):
        append_batch(path, _batch("t", 0, range(start, start + 10)))
    before = bronze_rows(settings).sort("offset")
    assert len(delta_io.open_table(path).file_uris()) == 5

    results = maintenance.run(settings)
    assert [(r.table, r.files_removed, r.files_added, r.files_vacuumed) for r in results] == [
        ("bronze/telemetry", 5, 1, 0)
    ]  # the default retention keeps the replaced files for running readers
    table = delta_io.open_table(path)
    assert len(table.file_uris()) == 1 and len(_parquet_files(path)) == 6
    assert table.transaction_version(tables.offset_marker("t", 0)) == 49
    assert bronze_rows(settings).sort("offset").equals(before)

    result = maintenance.maintain_table(path, retention_hours=0)
    assert result.files_vacuumed == 5 and len(_parquet_files(path)) == 1
    assert bronze_rows(settings).sort("offset").equals(before)


def test_unknown_table_is_one_line_error(settings):
    proc = subprocess.run(
        [sys.executable, "-m", "consumer.maintenance", "--table", "gold/nope"],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: no such lake table: gold/nope (known: none yet)\n"


def test_a_damaged_table_is_skipped_with_one_error_and_the_others_are_maintained(settings):
    bronze = Path(tables.BRONZE.path(settings))
    for start in range(0, 30, 10):
        append_batch(bronze, _batch("t", 0, range(start, start + 10)))
    runs = Path(tables.RUN_LOG.path(settings))
    delta_io.write(runs, pl.DataFrame(schema=tables.RUN_LOG.schema), app_transactions={tables.RUN_LOG.marker(): 1})
    newest = runs / "_delta_log" / f"{1:020d}.json"
    newest.write_text("")  # truncated to 0 bytes

    result = subprocess.run(
        [sys.executable, "-m", "consumer.maintenance", "--no-vacuum"],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or line.startswith("error:")]
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert (
        f"maintenance of silver/run_log failed, skipped: silver/run_log: commit file {newest} is damaged (empty)"
        in errors[0]
    )
    assert errors[1] == (
        "error: maintenance skipped 1 damaged tables (silver/run_log; the errors above say why) and "
        "maintained the other 1"
    )
    assert len(delta_io.open_table(bronze).file_uris()) == 1  # bronze was compacted all the same
