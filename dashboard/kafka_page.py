"""Kafka page: topics with partitions, replicas and configuration; consumer groups with state, members and lag;
a message browser (newest, from an offset or a time; filter by key or value text; headers). No Docker needed."""

from __future__ import annotations

from datetime import UTC, datetime, time

import polars as pl
import streamlit as st

from config.errors import BrokerUnavailableError
from config.settings import Settings
from dashboard import kafka_messages, kafka_view
from dashboard.controls import Filters, csv_button

TTL_S = 5.0


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _partitions(_settings: Settings, bootstrap: str) -> pl.DataFrame:
    return kafka_view.partitions(_settings)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _config(_settings: Settings, bootstrap: str, topic: str) -> pl.DataFrame:
    return kafka_view.topic_config(_settings, topic)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _groups(_settings: Settings, bootstrap: str) -> pl.DataFrame:
    return kafka_view.consumer_groups(_settings)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _members(_settings: Settings, bootstrap: str, group: str) -> pl.DataFrame:
    return kafka_view.group_members(_settings, group)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _lag(_settings: Settings, bootstrap: str, topic: str, group: str) -> pl.DataFrame:
    return kafka_view.lag(_settings, topic, group)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _messages(_settings: Settings, bootstrap: str, browse: kafka_messages.Browse) -> pl.DataFrame:
    return kafka_messages.messages(_settings, browse)


def _table(frame: pl.DataFrame, name: str) -> None:
    st.dataframe(frame, hide_index=True, key=f"kafka_{name}")
    csv_button(frame, name=f"kafka_{name}", key=f"kafka_{name}_csv")


def _topic(settings: Settings, parts: pl.DataFrame) -> str:
    """The topics table and the chosen topic's partitions and configuration; returns the topic."""
    _table(kafka_view.topics_of(parts), "topics")
    names = parts.get_column("topic").unique().sort().to_list()
    topic = st.selectbox(
        "Topic",
        names,
        key="kafka_topic",
        index=names.index(settings.telemetry_topic) if settings.telemetry_topic in names else 0,
    )
    left, right = st.columns(2)
    with left:
        st.caption(f"Partitions of {topic}: leader, replicas, in-sync replicas, first and end offset")
        _table(parts.filter(pl.col("topic") == topic).drop("topic"), "partitions")
    with right:
        st.caption(f"Configuration of {topic} (cleanup and retention decide whether records can vanish unread)")
        _table(_config(settings, settings.kafka_bootstrap_servers, topic), "config")
    return topic


def _group(settings: Settings, topic: str) -> None:
    st.markdown("##### Consumer groups")
    bootstrap = settings.kafka_bootstrap_servers
    groups = _groups(settings, bootstrap)
    if groups.is_empty():
        st.info("No consumer group yet: the bronze ingest joins one when it starts.")
        return
    _table(groups, "groups")
    ids = groups.get_column("group").to_list()
    group = st.selectbox(
        "Consumer group",
        ids,
        key="kafka_group",
        index=ids.index(settings.bronze_consumer_group) if settings.bronze_consumer_group in ids else 0,
    )
    lag = _lag(settings, bootstrap, topic, group)
    st.metric(f"Lag of {group} on {topic}", f"{lag.get_column('lag').sum():,}")
    left, right = st.columns(2)
    with left:
        _table(lag, "lag")
    with right:
        _table(_members(settings, bootstrap, group), "members")


def _browse(settings: Settings, topic: str, partitions: int) -> None:
    st.markdown("##### Messages")
    row = st.columns(4)
    partition = row[0].selectbox("Partition", list(range(partitions)), key="kafka_partition")
    start = row[1].selectbox(
        "Start",
        ["newest", "offset", "time"],
        key="kafka_start",
        help="newest: the last messages; offset / time: from there on",
    )
    count = row[2].number_input("Messages", min_value=1, max_value=500, value=20, key="kafka_count")
    at = 0
    if start == "offset":
        at = int(row[3].number_input("Offset", min_value=0, value=0, key="kafka_offset"))
    elif start == "time":
        day = row[3].date_input("From (UTC)", key="kafka_day")
        at = int(datetime.combine(day, time(0), UTC).timestamp() * 1000)
    left, right = st.columns(2)
    key = left.text_input("Key contains", key="kafka_key")
    text = right.text_input("Value contains", key="kafka_text")
    browse = kafka_messages.Browse(topic, int(partition or 0), start, at, int(count), key, text)  # type: ignore[arg-type]
    found = _messages(settings, settings.kafka_bootstrap_servers, browse)
    if found.is_empty():
        st.info(
            f"No message of partition {partition} of {topic} matches (at most {kafka_messages.SCAN_LIMIT:,} "
            "messages are looked at)."
        )
    else:
        _table(found, "messages")


def render(settings: Settings, filters: Filters | None) -> None:
    """The whole Kafka page (needs no lake)."""
    st.subheader("Kafka")
    try:
        parts = _partitions(settings, settings.kafka_bootstrap_servers)
    except BrokerUnavailableError as exc:
        st.warning(str(exc))
        return
    if parts.is_empty():
        st.info("The broker has no topics yet: ./start.sh (or the producer) creates the telemetry topic.")
        return
    topic = _topic(settings, parts)
    _group(settings, topic)
    _browse(settings, topic, parts.filter(pl.col("topic") == topic).height)
