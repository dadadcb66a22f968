"""Pipeline page: lake tables (version, last commit, rows, lag behind source), data quality, reconciliation."""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from config.settings import Settings
from dashboard import charts, data, metrics
from dashboard.controls import Filters, csv_button


def _lake(settings: Settings) -> bool:
    """The lake tables' metadata; False when there is no table at all."""
    st.markdown("#### Lake tables")
    tables = data.lake_overview(settings)
    commits = tables.select(pl.col("table").alias("source"), pl.col("last_commit").alias("source_commit"))
    tables = (
        tables.join(commits, on="source", how="left")
        .with_columns(
            pl.when(pl.col("versions_behind") > 0)
            .then((pl.col("source_commit") - pl.col("last_commit")).dt.total_seconds())
            .when(pl.col("versions_behind") == 0)
            .then(0.0)
            .alias("trails_source_s")
        )
        .drop("source_commit")
    )
    if tables.get_column("version").is_null().all():
        st.info(f"No lake tables yet under `{settings.lake_root}`. Start the pipeline with `./start.sh`.")
        return False
    st.dataframe(tables, hide_index=True, key="lake_tables")
    csv_button(tables, name="lake_tables", key="lake_csv")
    return True


def _quality(settings: Settings, filters: Filters | None) -> None:
    st.markdown("#### Quarantined rows by rule")
    quality = data.read_table(settings, "data_quality_daily", dates=filters.dates if filters else None)
    by_rule = metrics.quarantine_by_rule(quality)
    if by_rule.is_empty():
        st.info("Nothing quarantined in the selected dates.")
        return
    st.plotly_chart(
        charts.daily_bars(by_rule, x="date", y="rows", color="rule", title="Quarantined rows per day"),
        key="quarantine_chart",
    )
    totals = by_rule.group_by("rule").agg(pl.col("rows").sum()).sort("rows", descending=True)
    st.dataframe(totals, hide_index=True, key="quarantine_totals")
    csv_button(by_rule, name="quarantine_by_rule", key="quarantine_csv")


def _gaps(settings: Settings) -> int:
    """The records lost at the source (bronze/gaps), loud when there are any; returns how many."""
    st.markdown("#### Records lost at the source")
    gaps = data.read_table(settings, "gaps", layer="bronze")
    if gaps.is_empty():
        st.success("None: every offset of the topic since bronze started is in bronze.")
        return 0
    lost = int(gaps.get_column("records").sum())
    st.error(
        f"{lost:,} records lost at the source in {gaps.height} gaps: Kafka no longer held them when bronze read "
        "the partition (retention, delete-records or compaction). `python -m consumer.bronze.gaps --ack` "
        "acknowledges them in scripts/status.sh."
    )
    st.dataframe(gaps.sort("detected_at", descending=True), hide_index=True, key="bronze_gaps")
    csv_button(gaps, name="bronze_gaps", key="bronze_gaps_csv")
    return lost


def _reconciliation(settings: Settings, *, lost: int) -> None:
    st.markdown("#### Latest silver run (reconciliation)")
    runs = data.read_table(settings, "run_log", layer="silver")
    if runs.is_empty():
        st.info("No silver run logged yet.")
        return
    last = runs.sort("finished_at").row(-1, named=True)
    cards = st.columns(5)
    for column, (label, key) in zip(
        cards,
        (
            ("Bronze rows", "bronze_rows"),
            ("Silver rows", "silver_rows"),
            ("Quarantined", "quarantined_rows"),
            ("Duplicates", "duplicate_rows"),
        ),
        strict=False,
    ):
        column.metric(label, f"{last[key]:,}")
    cards[4].metric("Reconciled", "NO" if not last["reconciled"] else "with gaps" if lost else "yes")
    st.caption(
        f"Run {last['run_id']} finished {last['finished_at']:%Y-%m-%d %H:%M:%S} UTC, bronze versions "
        f"{last['bronze_version_from']}–{last['bronze_version_to']}"
    )
    rules = json.loads(last["rule_counts"] or "{}")
    if rules:
        by_rule = pl.DataFrame({"rule": list(rules), "rows_in_run": list(rules.values())})
        st.dataframe(by_rule, hide_index=True, key="run_rules")
        csv_button(by_rule, name="run_rules", key="run_rules_csv")


def render(settings: Settings, filters: Filters | None) -> None:
    """The whole Pipeline page (works on an empty lake too: it then says so)."""
    st.subheader("Pipeline")
    if _lake(settings):
        if filters is not None:
            _quality(settings, filters)
        _reconciliation(settings, lost=_gaps(settings))
