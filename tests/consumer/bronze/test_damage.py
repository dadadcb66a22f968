"""A damaged bronze commit stops every stage with one line, and the documented recovery (python -m lake.repair) ends
with every record Kafka holds in bronze exactly once and silver reconciling without a duplicate (real broker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from common.kafka_io import end_offsets
from consumer.bronze import ingest as ingest_bronze
from consumer.silver import run as silver
from lake import delta_io, tables
from tests.conftest import REPO
from tests.consumer.bronze.test_source import _delete_before
from tests.kafka_helpers import bronze_rows, env_of, produce_raw


def _first_line(text: str) -> str:
    return text.splitlines()[0] + "\n"


def _run(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("damage", "problem"), [(lambda text: "", "empty"), (_first_line, "cut: holds 0 of the 1 add actions")]
)
def test_a_damaged_newest_bronze_commit_stops_the_stages_and_repair_loses_and_duplicates_nothing(
    kafka_settings, damage, problem
):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(1000)))
    assert ingest_bronze.run(kafka_settings, max_records=1000, idle_exit_s=30).records == 1000
    produce_raw(kafka_settings, (b"b%d" % i for i in range(1000)))
    assert ingest_bronze.run(kafka_settings, max_records=1000, idle_exit_s=30).records == 1000
    path = Path(tables.BRONZE.path(kafka_settings))
    newest = path / "_delta_log" / f"{delta_io.open_table(path).version():020d}.json"
    newest.write_text(damage(newest.read_text()))

    expected = f"error: bronze/telemetry: commit file {newest} is damaged ({problem}"
    for stage in (("consumer.bronze", "--idle-exit", "5"), ("consumer.silver",)):
        result = _run(kafka_settings, *stage)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.splitlines()[-1].startswith(expected)
        assert result.stderr.splitlines()[-1].endswith(
            "run python -m lake.repair bronze/telemetry (see docs/bronze.md#damaged-lake-tables)"
        )

    repaired = _run(kafka_settings, "lake.repair", "bronze/telemetry")
    assert repaired.returncode == 0, repaired.stderr
    assert (kafka_settings.lake_root / ".damaged" / "bronze" / "telemetry" / newest.name).exists()
    assert ingest_bronze.run(kafka_settings, idle_exit_s=3).records > 0  # re-read from Kafka
    rows = bronze_rows(kafka_settings)
    assert rows.height == rows.unique().height == 2000
    result = silver.run(kafka_settings)
    assert (result.bronze_rows, result.quarantined_rows, result.duplicate_rows) == (2000, 2000, 0)
    assert delta_io.read(tables.GAPS.path(kafka_settings)).is_empty()


@pytest.mark.integration
@pytest.mark.parametrize("kafka_deleted_them", [False, True])
def test_a_missing_bronze_data_file_is_reported_once_and_reingest_recovers_exactly_its_records(
    kafka_settings, kafka_deleted_them
):
    for prefix in (b"a", b"b", b"c"):
        produce_raw(kafka_settings, (prefix + b"%d" % i for i in range(500)))
        assert ingest_bronze.run(kafka_settings, max_records=500, idle_exit_s=30).records == 500
    path = Path(tables.BRONZE.path(kafka_settings))
    middle = next(add for kind, add in delta_io.data_changes(path, 2) if kind == "add")
    lost_file = path / middle["path"]
    lost = pl.read_parquet(lost_file).select("partition", "offset")
    lost_file.unlink()
    if kafka_deleted_them:
        _delete_before(kafka_settings, end_offsets(kafka_settings, kafka_settings.telemetry_topic))

    result = _run(kafka_settings, "consumer.silver")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    low, high = lost.min().row(0), lost.max().row(0)
    assert result.stderr.splitlines()[-1] == (
        f"error: bronze version 2: data file {lost_file} is missing (500 records of partitions {low[0]}..{high[0]}, "
        f"offsets {low[1]}..{high[1]}); run python -m consumer.bronze.reingest to re-read those records from Kafka "
        "(or record them as lost if Kafka no longer holds them), see docs/bronze.md#damaged-lake-tables"
    )

    recovered = _run(kafka_settings, "consumer.bronze.reingest")
    assert recovered.returncode == 0, recovered.stderr
    rows = bronze_rows(kafka_settings)
    gaps = delta_io.read(tables.GAPS.path(kafka_settings))
    if kafka_deleted_them:
        assert rows.height == rows.unique().height == 1000 and int(gaps["records"].sum()) == 500
        assert (
            gaps.select("partition", "from_offset").sort("partition").rows()
            == lost.group_by("partition").agg(pl.col("offset").min()).sort("partition").rows()
        )
    else:
        assert rows.height == rows.unique().height == 1500 and gaps.is_empty()
    assert _run(kafka_settings, "consumer.bronze.reingest").stdout == "bronze: no missing data file\n"  # rerunnable
    run = silver.run(kafka_settings)
    assert (run.bronze_rows, run.quarantined_rows, run.duplicate_rows) == (rows.height, rows.height, 0)
