"""The dashboard's reads: gold tables and lake metadata, cached per Delta table version (re-read only on change)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.dataset as ds
import streamlit as st
from deltalake import DeltaTable

from common import delta_io
from config.settings import Settings

logger = logging.getLogger(__name__)

GOLD_TABLES = ("daily_energy_consumption", "device_health_metrics", "daily_business_summary", "daily_home_summary",
               "telemetry_1min", "alerts", "monthly_billing", "data_quality_daily")
DATED_TABLES = frozenset({"daily_energy_consumption", "daily_business_summary", "daily_home_summary",
                          "telemetry_1min", "alerts", "data_quality_daily"})
# Every table the Pipeline page describes: (layer, name, source layer/name, progress marker in the table's log)
LAKE_TABLES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("bronze", "telemetry", None, None),
    ("silver", "telemetry", "bronze/telemetry", "silver:bronze"),
    ("silver", "quarantine", "bronze/telemetry", None),
    ("silver", "run_log", None, None),
    *(("gold", name, "silver/telemetry", f"gold:{name}") for name in GOLD_TABLES),
)


@dataclass(frozen=True)
class TableInfo:
    """Metadata of one lake table (no rows read): version, last commit, rows, how far it trails its source."""

    table: str
    version: int | None
    last_commit: object | None
    operation: str | None
    rows: int | None
    source: str | None
    source_version: int | None
    consumed_version: int | None

    @property
    def versions_behind(self) -> int | None:
        if self.source_version is None or self.consumed_version is None:
            return None
        return max(0, self.source_version - self.consumed_version)


def gold_exists(settings: Settings) -> bool:
    """True when at least one gold table has been written."""
    return any((settings.table_path("gold", name) / "_delta_log").is_dir() for name in GOLD_TABLES)


def _open(path: Path) -> DeltaTable | None:
    return delta_io.open_table(path)


@st.cache_resource(max_entries=256, show_spinner=False)
def _read_version(_table: DeltaTable, path: str, version: int, columns: tuple[str, ...] | None,
                  dates: tuple[date, date] | None) -> pl.DataFrame:
    """One version of a table (some columns, some date partitions); the frame is shared, never mutate it."""
    logger.debug("reading %s v%d columns=%s dates=%s", path, version, columns, dates)
    dataset = _table.to_pyarrow_dataset()
    row_filter = None
    if dates is not None:
        row_filter = (ds.field("date") >= dates[0]) & (ds.field("date") <= dates[1])
    arrow = dataset.to_table(columns=list(columns) if columns else None, filter=row_filter)
    return pl.from_arrow(arrow)  # type: ignore[return-value]


def read_table(settings: Settings, name: str, *, layer: str = "gold", columns: tuple[str, ...] | None = None,
               dates: tuple[date, date] | None = None) -> pl.DataFrame:
    """A lake table (cached per Delta version); an empty frame when the table does not exist yet."""
    path = settings.table_path(layer, name)  # type: ignore[arg-type]
    table = _open(path)
    if table is None:
        return pl.DataFrame()
    if name not in DATED_TABLES:
        dates = None
    return _read_version(table, str(path), table.version(), columns, dates)


@st.cache_resource(max_entries=256, show_spinner=False)
def _row_count(_table: DeltaTable, path: str, version: int) -> int:
    actions = pl.DataFrame(_table.get_add_actions(flatten=True))
    return int(actions.get_column("num_records").sum()) if "num_records" in actions.columns else 0


def table_info(settings: Settings, layer: str, name: str, source: str | None, marker: str | None) -> TableInfo:
    """Version, last commit, row count (from the log's file statistics) and lag behind its source of one table."""
    path = settings.table_path(layer, name)  # type: ignore[arg-type]
    table = _open(path)
    if table is None:
        return TableInfo(f"{layer}/{name}", None, None, None, None, source, None, None)
    commit = delta_io.last_commit(path) or {}
    source_version = None
    if source is not None:
        source_table = _open(settings.lake_root / source)
        source_version = source_table.version() if source_table is not None else None
    return TableInfo(f"{layer}/{name}", table.version(), commit.get("timestamp"), commit.get("operation"),  # type: ignore[arg-type]
                     _row_count(table, str(path), table.version()), source, source_version,
                     delta_io.txn_version(table, marker) if marker else None)


def lake_overview(settings: Settings) -> pl.DataFrame:
    """One row per lake table: version, last commit, rows, source version, consumed version, versions behind."""
    rows = []
    for layer, name, source, marker in LAKE_TABLES:
        info = table_info(settings, layer, name, source, marker)
        rows.append({"table": info.table, "version": info.version, "last_commit": info.last_commit,
                     "operation": info.operation, "rows": info.rows, "source": info.source,
                     "source_version": info.source_version, "consumed_version": info.consumed_version,
                     "versions_behind": info.versions_behind})
    return pl.DataFrame(rows, schema={"table": pl.String, "version": pl.Int64, "last_commit": pl.Datetime("us", "UTC"),
                                      "operation": pl.String, "rows": pl.Int64, "source": pl.String,
                                      "source_version": pl.Int64, "consumed_version": pl.Int64,
                                      "versions_behind": pl.Int64})
