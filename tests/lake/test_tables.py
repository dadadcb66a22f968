"""The table registry: each table declared once, and a table added there alone shows up everywhere tables are listed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from config.settings import Settings
from consumer import maintenance
from lake import delta_io, tables
from ops import status
from tests.conftest import make_settings
from tests.dashboard.apptest import page, table_with


def test_every_table_has_its_own_folder_and_markers():
    settings = make_settings(LAKE_ROOT="/lake")
    declared = list(tables.all_tables())
    assert len({t.path(settings) for t in declared}) == len(declared)
    assert all(t.path(settings).local == Path("/lake") / t.layer / t.name for t in declared)
    on_s3 = Settings(lake_root="s3://bucket/prefix/", aws_endpoint_url="http://127.0.0.1:1")
    assert all(str(t.path(on_s3)) == f"s3://bucket/prefix/{t.layer}/{t.name}" for t in declared)
    assert all(t.path(on_s3).storage_options == {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"} for t in declared)
    assert all(set(t.partition_by) <= set(t.schema) for t in declared)
    gold_markers = [marker for t in tables.all_tables("gold") for marker in t.markers.values()]
    assert len(gold_markers) == len(set(gold_markers))
    live = {tables.ALERT_EPISODES, tables.SENTINEL_STATE}  # the sentinel's: fed from Kafka, like bronze
    assert {t.source for t in tables.all_tables("gold") if t not in live} == {tables.SILVER.key}
    assert {t.source for t in live} == {tables.KAFKA}
    assert tables.offset_marker("smart_home.telemetry", 3) == "bronze:smart_home.telemetry:3"


def test_a_table_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        tables.register(tables.Table(layer="gold", name="alerts", row="a second alerts table", schema={}))


@pytest.fixture
def throwaway() -> Iterator[tables.Table]:
    """A gold table declared in the registry only (no stage writes it)."""
    table = tables.register(
        tables.Table(
            layer="gold",
            name="throwaway",
            row="one test value per date",
            schema={"date": pl.Date(), "value": pl.Int64()},
            partition_by=("date",),
            markers={tables.SILVER.key: "gold:throwaway"},
        )
    )
    yield table
    tables.unregister(table.key)


def test_a_registered_table_is_in_status_maintenance_and_the_pipeline_page(throwaway, app_env):
    settings = make_settings(LAKE_ROOT=app_env, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    frame = pl.DataFrame({"date": [date(2026, 11, 1), date(2026, 11, 2)], "value": [1, 2]}, schema=throwaway.schema)
    delta_io.write(
        throwaway.path(settings), frame, partition_by=throwaway.partition_by, app_transactions={throwaway.marker(): 7}
    )

    checks = {check.name: check for check in status.checks(settings)}
    # version 0 is the table created empty (delta_io._first_version), version 1 the first write
    assert checks["gold/throwaway"].healthy and "version 1" in checks["gold/throwaway"].detail

    assert [r.table for r in maintenance.run(settings, vacuum=False)] == ["gold/throwaway"]

    lake = table_with(page("pipeline"), "table", "consumed_version").set_index("table")
    assert lake.loc["gold/throwaway", "rows"] == 2
    assert lake.loc["gold/throwaway", "consumed_version"] == 7
    assert lake.loc["gold/throwaway", "source"] == "silver/telemetry"
