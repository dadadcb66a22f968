"""Kafka seen from the dashboard, through the admin API: topics and their partitions, replicas and configuration,
consumer groups with their state and members, and a group's lag. Every call is bounded by the client timeouts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import polars as pl
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from common import kafka_io
from config.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
# The settings that decide whether records can vanish before the ingest reads them, shown first.
KEY_CONFIGS = ("cleanup.policy", "retention.ms", "retention.bytes", "min.insync.replicas", "max.message.bytes")


@contextmanager
def _admin(settings: Settings) -> Iterator[KafkaAdminClient]:
    kafka_io.check_broker(settings)
    admin = kafka_io.admin_client(settings, timeout_s=5.0)
    try:
        yield admin
    finally:
        admin.close()


def _ask(settings: Settings, request: Callable[[KafkaAdminClient], T]) -> T:
    """One admin request; a broker failure becomes BrokerUnavailableError (one friendly line on the page)."""
    with _admin(settings) as admin:
        try:
            return request(admin)
        except (KafkaError, OSError) as exc:
            raise kafka_io.broker_unavailable(settings, exc) from None


def partitions(settings: Settings) -> pl.DataFrame:
    """One row per partition of every topic (internal ones left out): leader, replicas, in-sync replicas, offsets."""
    described = _ask(settings, lambda admin: admin.describe_topics())
    rows = [
        {
            "topic": t["name"],
            "partition": p["partition_index"],
            "leader": p["leader_id"],
            "replicas": ",".join(map(str, p["replica_nodes"])),
            "in_sync": ",".join(map(str, p["isr_nodes"])),
            "under_replicated": len(p["isr_nodes"]) < len(p["replica_nodes"]),
        }
        for t in described
        if not t["is_internal"] and not t["name"].startswith("__")
        for p in t["partitions"]
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "topic": pl.String,
            "partition": pl.Int64,
            "leader": pl.Int64,
            "replicas": pl.String,
            "in_sync": pl.String,
            "under_replicated": pl.Boolean,
        },
    )
    return frame.join(_offsets(settings, frame), on=["topic", "partition"], how="left").sort("topic", "partition")


def _offsets(settings: Settings, frame: pl.DataFrame) -> pl.DataFrame:
    """First and end offset of each (topic, partition)."""
    tps = [TopicPartition(t, p) for t, p in frame.select("topic", "partition").iter_rows()]
    consumer = KafkaConsumer(**kafka_io.client_config(settings), enable_auto_commit=False)
    try:
        first, end = (consumer.beginning_offsets(tps), consumer.end_offsets(tps)) if tps else ({}, {})
    except (KafkaError, OSError) as exc:
        raise kafka_io.broker_unavailable(settings, exc) from None
    finally:
        consumer.close()
    rows = [
        {"topic": tp.topic, "partition": tp.partition, "first_offset": first[tp], "end_offset": end[tp]} for tp in tps
    ]
    return pl.DataFrame(
        rows, schema={"topic": pl.String, "partition": pl.Int64, "first_offset": pl.Int64, "end_offset": pl.Int64}
    )


def topics(settings: Settings) -> pl.DataFrame:
    """One row per topic: partitions, replication factor, under-replicated partitions and the messages it holds."""
    return topics_of(partitions(settings))


def topics_of(parts: pl.DataFrame) -> pl.DataFrame:
    """The per-topic summary of `partitions()` (messages held = end − first offset, summed)."""
    return (
        parts.group_by("topic")
        .agg(
            pl.len().cast(pl.Int64).alias("partitions"),
            pl.col("replicas").str.count_matches(",").max().add(1).cast(pl.Int64).alias("replication_factor"),
            pl.col("under_replicated").sum().cast(pl.Int64).alias("under_replicated"),
            (pl.col("end_offset") - pl.col("first_offset")).sum().alias("messages"),
            pl.col("end_offset").sum().alias("messages_total"),
        )
        .sort("topic")
    )


def topic_config(settings: Settings, topic: str) -> pl.DataFrame:
    """Every configuration entry of a topic: name, value, and where the value comes from (a topic override, the
    broker's configuration, or Kafka's default)."""
    result = _ask(
        settings,
        lambda admin: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"),
    )
    entries = result.get("topic", {}).get(topic, {})
    rows = [
        {
            "name": name,
            "value": None if entry.get("is_sensitive") else _value(entry),
            "source": str(entry.get("config_source", "")).removesuffix("_CONFIG").lower() or None,
        }
        for name, entry in entries.items()
    ]
    frame = pl.DataFrame(rows, schema={"name": pl.String, "value": pl.String, "source": pl.String})
    order = pl.col("name").replace_strict({n: i for i, n in enumerate(KEY_CONFIGS)}, default=len(KEY_CONFIGS))
    return frame.sort(order, "name")


def _value(entry: object) -> str | None:
    value = entry.get("value") if isinstance(entry, dict) else entry
    return None if value is None else str(value)


def consumer_groups(settings: Settings) -> pl.DataFrame:
    """One row per consumer group: state, type and members."""
    listed = _ask(settings, lambda admin: admin.list_groups())
    ids = sorted(g["group_id"] for g in listed)
    described = _ask(settings, lambda admin: admin.describe_groups(ids)) if ids else {}
    rows = [
        {
            "group": gid,
            "state": described.get(gid, {}).get("group_state"),
            "type": next((g.get("group_type") for g in listed if g["group_id"] == gid), None),
            "members": len(described.get(gid, {}).get("members") or []),
        }
        for gid in ids
    ]
    return pl.DataFrame(rows, schema={"group": pl.String, "state": pl.String, "type": pl.String, "members": pl.Int64})


def group_members(settings: Settings, group: str) -> pl.DataFrame:
    """One row per member of a group: member id, client id, host and the partitions assigned to it."""
    described = _ask(settings, lambda admin: admin.describe_groups([group])).get(group, {})
    rows = [
        {
            "member_id": m["member_id"],
            "client_id": m.get("client_id"),
            "host": m.get("client_host"),
            "assigned": "; ".join(
                f"{a['topic']}: {','.join(map(str, a['partitions']))}"
                for a in (m.get("member_assignment") or {}).get("assigned_partitions", [])
            ),
        }
        for m in described.get("members") or []
    ]
    return pl.DataFrame(
        rows, schema={"member_id": pl.String, "client_id": pl.String, "host": pl.String, "assigned": pl.String}
    )


def lag(settings: Settings, topic: str, group: str) -> pl.DataFrame:
    """Per partition of `topic`: end offset, `group`'s committed offset and its lag."""
    kafka_io.check_broker(settings)
    rows = [
        {"partition": p.partition, "end_offset": p.end_offset, "committed": p.committed, "lag": p.lag}
        for p in kafka_io.group_lag(settings, topic, group)
    ]
    return pl.DataFrame(
        rows, schema={"partition": pl.Int64, "end_offset": pl.Int64, "committed": pl.Int64, "lag": pl.Int64}
    )
