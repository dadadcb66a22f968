"""Apache Spark (pyspark + delta-spark, local mode) reads every table of the lake with the same numbers as
polars/delta-rs: row counts, and per column the non-null count, min, max and (numeric) sum; among them the gold
energy totals, the silver metric sums and the billing totals. Before and after maintenance (compaction and a
checkpoint written by delta-rs).

The lake is built by the real stages without a broker: simulated readings (with faults) appended to bronze as the
ingest writes them, a source gap, silver and gold (under the ETL lease), and the sentinel's episodes and state."""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from common.clock import ManualClock
from config.errors import SparkReaderError
from config.settings import Settings
from consumer import maintenance
from consumer.bronze import gaps
from consumer.gold import run as gold_run
from consumer.sentinel import episodes, stream
from consumer.sentinel.store import Snapshot, Store
from consumer.silver import run as silver_run
from lake import delta_io, tables
from lake.devices import register_devices
from lake.lease import run_holding
from ops.spark_reader import QUICK_JVM, DeltaJars, delta_version, local_session, scala_version
from producer.encode import encode
from producer.fleet import synthetic_fleet
from producer.simulator import Simulator
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import TOPIC, append_bronze

START = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # the readings cross a day and a month (two billing months)
TICKS, EVERY_MS = 360, 10_000  # an hour of readings of every device
# the numbers the issue names, each among the compared ones and not empty: (table, column) whose sum is compared
NAMED_SUMS = [
    ("gold/device_hourly", "energy_uwh"),
    ("gold/daily_energy_consumption", "energy_kwh"),
    ("gold/daily_home_summary", "total_energy_kwh"),
    ("gold/daily_business_summary", "total_energy_kwh"),
    ("gold/monthly_billing", "total"),
    ("gold/monthly_billing", "energy_cost"),
    ("silver/telemetry", "energy_wh"),
    ("silver/telemetry", "power_w"),
    ("silver/telemetry", "temperature_c"),
]
Partition = namedtuple("Partition", "partition")
Record = namedtuple("Record", "offset value")


def _readings() -> list[bytes]:
    """An hour of a 3-home fleet's readings as JSON values, one plug over its limit from minute 50 on, plus a
    broken value, a redelivery and an unknown device (silver quarantines two and drops one)."""
    fleet = synthetic_fleet(3, seed=7)
    simulator, t0 = Simulator(fleet, seed=7), int(START.timestamp() * 1000)
    frame = pl.concat([simulator.tick(t0 + i * EVERY_MS) for i in range(TICKS)])
    plug = frame.filter(pl.col("device_type") == "smart_plug")["device_id"][0]
    hot = (pl.col("device_id") == plug) & (pl.col("ts_ms") >= t0 + 3_000_000)
    frame = frame.with_columns(alert=pl.when(hot).then(pl.lit("high_power")).otherwise(pl.col("alert")))
    _, _, values = encode(frame)
    return [*values, b'{"broken', values[0], values[5].replace(b'"device_id":"', b'"device_id":"ghost_')]


def build_lake(settings: Settings) -> None:
    """Every table of the registry, filled by the project's own stages."""
    register_devices(settings, synthetic_fleet(3, seed=7))
    values = _readings()
    third, half, ingested = len(values) // 3, len(values) // 2, START + timedelta(hours=1, minutes=5)
    append_bronze(settings, values[:third], ingested_at=ingested)  # two commits, one day: compaction has work
    append_bronze(settings, values[third:half], start_offset=third, ingested_at=ingested)
    append_bronze(settings, values[half:], start_offset=half + 10, ingested_at=ingested + timedelta(days=1))
    gaps.record(tables.GAPS.path(settings), [gaps.Gap(TOPIC, 0, half, half + 9, "deleted")], now=ingested)
    clock = ManualClock(START + timedelta(hours=2))
    run_holding(settings, lambda: silver_run.run(settings, clock=clock))  # as a run by hand: under the ETL lease
    run_holding(settings, lambda: gold_run.run(settings, clock=clock))
    # the sentinel judges the same records as one poll, without the broker
    offsets = [*range(half), *range(half + 10, len(values) + 10)]
    batch = stream.events({Partition(0): [Record(o, v) for o, v in zip(offsets, values, strict=True)]})
    changes, conditions = episodes.step(batch, episodes.empty_conditions(), episodes.Rules.from_settings(settings))
    store = Store(settings, partitions=1)
    store.append(changes, offsets={0: offsets[-1]}, batch=1)
    store.snapshot(Snapshot(conditions=conditions, offsets={0: offsets[-1]}, batch=1, published=1))


def polars_profile(frame: pl.DataFrame) -> dict[str, Any]:
    """Rows, and per column: non-null count, and for orderable columns min and max (times as epoch µs, dates as
    epoch days), for numeric ones the sum."""
    profile: dict[str, Any] = {"rows": frame.height}
    for name, dtype in frame.schema.items():
        column = frame[name]
        profile[f"{name}|count"] = column.count()
        if isinstance(dtype, pl.Datetime):
            column = column.dt.epoch("us")
        elif dtype == pl.Date:
            column = column.cast(pl.Int32)
        elif not (dtype.is_numeric() or dtype in (pl.String, pl.Boolean)):
            continue
        profile[f"{name}|min"], profile[f"{name}|max"] = column.min(), column.max()
        if dtype.is_numeric() and column.count():
            profile[f"{name}|sum"] = column.sum()
    return profile


def spark_profile(frame: Any) -> dict[str, Any]:
    """The same profile as `polars_profile`, computed by Spark in one job."""
    measures = [sf.count(sf.lit(1)).alias("rows")]
    for field in frame.schema.fields:
        column = sf.col(f"`{field.name}`")
        measures.append(sf.count(column).alias(f"{field.name}|count"))
        if isinstance(field.dataType, st.TimestampType):
            column = sf.unix_micros(column)
        elif isinstance(field.dataType, st.DateType):
            column = sf.unix_date(column)
        elif not isinstance(field.dataType, st.NumericType | st.StringType | st.BooleanType):
            continue
        measures += [sf.min(column).alias(f"{field.name}|min"), sf.max(column).alias(f"{field.name}|max")]
        if isinstance(field.dataType, st.NumericType):
            measures.append(sf.sum(column).alias(f"{field.name}|sum"))
    profile = frame.agg(*measures).collect()[0].asDict()
    return {key: value for key, value in profile.items() if not (key.endswith("|sum") and value is None)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):  # sums in another order
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def compare_every_table(spark: Any, settings: Settings) -> dict[str, dict[str, Any]]:
    """Each registry table read by polars and by Spark: every difference in one assertion; the profiles."""
    profiles, differences, empty = {}, {}, []
    for table in tables.all_tables():
        frame = delta_io.read(table.path(settings))
        if frame.is_empty():
            empty.append(table.key)
            continue
        expected = polars_profile(frame)
        actual = spark_profile(spark.read.format("delta").load(str(table.path(settings))))
        keys = expected.keys() | actual.keys()
        wrong = {
            key: (actual.get(key), expected.get(key)) for key in keys if not _same(actual.get(key), expected.get(key))
        }
        if wrong:
            differences[table.key] = wrong
        profiles[table.key] = expected
    assert not empty, f"the lake this test builds leaves {empty} empty: feed them in build_lake"
    assert not differences, f"Spark (first) and polars read different numbers: {differences}"
    for key, column in NAMED_SUMS:
        assert profiles[key].get(f"{column}|sum"), f"{key}.{column} has no sum to compare"
    return profiles


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session for the module, with the Delta jars `scripts/spark_reader.sh install` fetched."""
    try:
        home = REPO / Settings().spark_jars_home
        jars = DeltaJars(home=home, version=delta_version(), scala=scala_version()).paths()
    except SparkReaderError as exc:
        pytest.fail(f"{exc} (scripts/test.sh does it)", pytrace=False)
    session = local_session(jars, cores=2, driver_memory="512m", java_options=QUICK_JVM)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(LAKE_ROOT=tmp_path_factory.mktemp("lake"))
    build_lake(settings)
    return settings


def test_spark_reads_every_table_with_the_same_numbers(spark, lake):
    profiles = compare_every_table(spark, lake)
    assert profiles["silver/quarantine"]["rows"] == 2 and profiles["bronze/gaps"]["records|sum"] == 10
    # bronze's change data feed, which the registry enables for other engines: every record an insert
    feed = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
    inserts = feed.load(str(tables.BRONZE.path(lake))).filter("_change_type = 'insert'").count()
    assert inserts == profiles["bronze/telemetry"]["rows"]


def test_spark_reads_every_table_after_compaction_and_a_checkpoint(spark, lake):
    done = maintenance.run(lake, vacuum=False)
    assert sum(result.files_removed for result in done) > 0
    assert all((table.path(lake) / "_delta_log" / "_last_checkpoint").is_file() for table in tables.all_tables())
    compare_every_table(spark, lake)
