"""Issue 13 end to end: a restarted producer loses nothing, and a real-shaped multi-device file replayed through one
mapping lands in gold exactly as pandas computes it from the raw file, however often it is replayed.

Run alone with `./scripts/test.sh -m e2e`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from lake import delta_io, tables
from tests.e2e.helpers import Pipeline, check_against_ledger, produce, wait_drained
from tests.producer.replay_fixture import oracle, write_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _run(settings, tmp_path: Path, *args: str) -> None:
    log = tmp_path / "producer.log"
    assert produce(settings, tmp_path / "ledger.csv", *args, log=log).wait(timeout=300) == 0, log.read_text()[-2000:]
    wait_drained(settings)


def _silver_counts(settings) -> dict[str, int]:
    log = delta_io.read(tables.RUN_LOG.path(settings))
    return {name: int(log[name].sum()) for name in ("bronze_rows", "silver_rows", "quarantined_rows", "duplicate_rows")}


def test_a_stopped_and_restarted_producer_with_the_same_seed_loses_nothing(kafka_settings, tmp_path):
    pipeline = Pipeline(kafka_settings, tmp_path)
    pipeline.start("ingest")
    pipeline.start("scheduler")
    try:
        for _ in range(2):  # ./stop.sh && ./start.sh: the same default seed, live readings
            _run(kafka_settings, tmp_path, "--homes", "1", "--interval", "0.5", "--duration", "4")
    finally:
        pipeline.stop()
    totals = check_against_ledger(kafka_settings, tmp_path / "ledger.csv")  # events and energy per device × day
    counts = _silver_counts(kafka_settings)
    assert counts["duplicate_rows"] == 0 and counts["silver_rows"] == totals["events"] > 50


def test_a_multi_device_file_replayed_twice_lands_in_gold_as_pandas_computes_it(kafka_settings, tmp_path):
    csv, mapping = write_fixture(tmp_path)
    replay = ("--replay", str(csv), "--replay-config", str(mapping), "--speed", "0")
    pipeline = Pipeline(kafka_settings, tmp_path)
    pipeline.start("ingest")
    pipeline.start("scheduler")
    try:
        _run(kafka_settings, tmp_path, *replay)
        first = _silver_counts(kafka_settings)
        gold = delta_io.read(tables.DAILY_ENERGY.path(kafka_settings)).sort("device_id", "date")
        _run(kafka_settings, tmp_path, *replay)
    finally:
        pipeline.stop()
    assert first == {"bronze_rows": 400, "silver_rows": 399, "quarantined_rows": 0, "duplicate_rows": 1}
    got = gold.select("device_id", "date", "readings", (pl.col("energy_kwh") * 1000).alias("energy_wh")).to_pandas()
    got["date"] = got["date"].dt.date
    pd.testing.assert_frame_equal(got, oracle(csv), check_dtype=False, rtol=0, atol=1e-3)
    assert _silver_counts(kafka_settings) == {**first, "bronze_rows": 800, "duplicate_rows": 401}
    again = delta_io.read(tables.DAILY_ENERGY.path(kafka_settings)).sort("device_id", "date")
    assert again.drop("updated_at", strict=False).equals(gold.drop("updated_at", strict=False))
