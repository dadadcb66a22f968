"""Pipeline page: lake tables (version, last commit, rows, lag behind source), data quality, reconciliation, Kafka."""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from config.errors import BrokerUnavailableError
from config.settings import Settings
from dashboard import charts, data, kafka_view, metrics
from dashboard.controls import Filters, csv_button

KAFKA_TTL_S = 5.0


def _lake(settings: Settings) -> bool:
    """The lake tables' metadata; False when there is no table at all."""
    st.markdown("#### Lake tables")
    tables = data.lake_overview(settings)
    commits = tables.select(pl.col("table").alias("source"), pl.col("last_commit").alias("source_commit"))
    tables = tables.join(commits, on="source", how="left").with_columns(
        pl.when(pl.col("versions_behind") > 0)
        .then((pl.col("source_commit") - pl.col("last_commit")).dt.total_seconds())
        .when(pl.col("versions_behind") == 0).then(0.0).alias("trails_source_s")).drop("source_commit")
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
    st.plotly_chart(charts.daily_bars(by_rule, x="date", y="rows", color="rule", title="Quarantined rows per day"),
                    key="quarantine_chart")
    totals = by_rule.group_by("rule").agg(pl.col("rows").sum()).sort("rows", descending=True)
    st.dataframe(totals, hide_index=True, key="quarantine_totals")
    csv_button(by_rule, name="quarantine_by_rule", key="quarantine_csv")


def _reconciliation(settings: Settings) -> None:
    st.markdown("#### Latest silver run (reconciliation)")
    runs = data.read_table(settings, "run_log", layer="silver")
    if runs.is_empty():
        st.info("No silver run logged yet.")
        return
    last = runs.sort("finished_at").row(-1, named=True)
    cards = st.columns(5)
    for column, (label, key) in zip(cards, (("Bronze rows", "bronze_rows"), ("Silver rows", "silver_rows"),
                                            ("Quarantined", "quarantined_rows"), ("Duplicates", "duplicate_rows")),
                                    strict=False):
        column.metric(label, f"{last[key]:,}")
    cards[4].metric("Reconciled", "yes" if last["reconciled"] else "NO")
    st.caption(f"Run {last['run_id']} finished {last['finished_at']:%Y-%m-%d %H:%M:%S} UTC, bronze versions "
               f"{last['bronze_version_from']}–{last['bronze_version_to']}")
    rules = json.loads(last["rule_counts"] or "{}")
    if rules:
        st.dataframe(pl.DataFrame({"rule": list(rules), "rows_in_run": list(rules.values())}), hide_index=True,
                     key="run_rules")


@st.cache_data(ttl=KAFKA_TTL_S, show_spinner=False)
def _topics(_settings: Settings, bootstrap: str) -> pl.DataFrame:
    return kafka_view.topics(_settings)


@st.cache_data(ttl=KAFKA_TTL_S, show_spinner=False)
def _groups(_settings: Settings, bootstrap: str) -> list[str]:
    return kafka_view.consumer_groups(_settings)


@st.cache_data(ttl=KAFKA_TTL_S, show_spinner=False)
def _lag(_settings: Settings, bootstrap: str, topic: str, group: str) -> pl.DataFrame:
    return kafka_view.lag(_settings, topic, group)


@st.cache_data(ttl=KAFKA_TTL_S, show_spinner=False)
def _messages(_settings: Settings, bootstrap: str, topic: str, partition: int, count: int) -> pl.DataFrame:
    return kafka_view.last_messages(_settings, topic, partition, count=count)


def _kafka(settings: Settings) -> None:
    st.markdown("#### Kafka")
    bootstrap = settings.kafka_bootstrap_servers
    try:
        topics = _topics(settings, bootstrap)
        groups = _groups(settings, bootstrap)
    except BrokerUnavailableError as exc:
        st.warning(str(exc))
        return
    if topics.is_empty():
        st.info("The broker has no topics yet: the producer creates one when it starts.")
        return
    st.dataframe(topics, hide_index=True, key="kafka_topics")
    names = topics.get_column("topic").to_list()
    left, right = st.columns(2)
    topic = left.selectbox("Topic", names, index=names.index(settings.telemetry_topic)
                           if settings.telemetry_topic in names else 0, key="kafka_topic")
    group = right.selectbox("Consumer group", groups, index=groups.index(settings.bronze_consumer_group)
                            if settings.bronze_consumer_group in groups else 0, key="kafka_group")
    if group is not None:
        lag = _lag(settings, bootstrap, topic, group)
        st.metric(f"Lag of {group} on {topic}", f"{lag.get_column('lag').sum():,}")
        st.dataframe(lag, hide_index=True, key="kafka_lag")
    partitions = int(topics.filter(pl.col("topic") == topic).get_column("partitions").item())
    left, right = st.columns(2)
    partition = left.selectbox("Partition", list(range(partitions)), key="kafka_partition")
    count = right.number_input("Last messages", min_value=1, max_value=200, value=20, key="kafka_count")
    messages = _messages(settings, bootstrap, topic, int(partition or 0), int(count))
    if messages.is_empty():
        st.info(f"Partition {partition} of {topic} has no messages.")
    else:
        st.dataframe(messages, hide_index=True, key="kafka_messages")


def render(settings: Settings, filters: Filters | None) -> None:
    """The whole Pipeline page (works on an empty lake too: it then shows Kafka only)."""
    st.subheader("Pipeline")
    if _lake(settings):
        if filters is not None:
            _quality(settings, filters)
        _reconciliation(settings)
    _kafka(settings)
