"""Kafka I/O shared by every component: client settings, broker checks, topic creation, offsets and lag."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from config.errors import BrokerUnavailableError
from config.settings import Settings

logger = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings every kafka-python client gets (bootstrap servers, SASL when configured)."""
    config: dict[str, Any] = {"bootstrap_servers": [f"{host}:{port}" for host, port in settings.bootstrap_servers]}
    if settings.kafka_sasl_username:
        config.update(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return config


def admin_client(settings: Settings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    """An admin client, or BrokerUnavailableError with what to do."""
    try:
        return KafkaAdminClient(
            **client_config(settings),
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            client_id="lakehouse-admin",
        )
    except (KafkaError, OSError) as exc:
        raise broker_unavailable(settings, exc) from None


def check_broker(settings: Settings, *, timeout_s: float = 1.0) -> None:
    """Return when a bootstrap server accepts a TCP connection; BrokerUnavailableError at once otherwise."""
    error: OSError | None = None
    for host, port in settings.bootstrap_servers:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            return
        except OSError as exc:
            error = exc
    raise broker_unavailable(settings, error)


def broker_reachable(settings: Settings, *, timeout_s: float = 1.0) -> bool:
    """Whether a bootstrap server accepts a TCP connection (cheap: no Kafka client, no request)."""
    try:
        check_broker(settings, timeout_s=timeout_s)
        return True
    except BrokerUnavailableError:
        return False


def broker_unavailable(settings: Settings, exc: BaseException | None = None) -> BrokerUnavailableError:
    """The one-line error for a broker that does not answer."""
    reason = f" ({type(exc).__name__})" if exc is not None else ""
    return BrokerUnavailableError(
        f"Kafka broker not reachable at {settings.kafka_bootstrap_servers}{reason}: "
        "start it with ./start.sh (or scripts/kafka_local.sh start), or set KAFKA_BOOTSTRAP_SERVERS"
    )


def ensure_topic(settings: Settings, topic: str | None = None, *, partitions: int | None = None) -> bool:
    """Create the topic if it is missing; True when it was created."""
    topic = topic or settings.telemetry_topic
    admin = admin_client(settings)
    try:
        if topic in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions or settings.telemetry_partitions, 1)])
        except TopicAlreadyExistsError:
            return False
        admin.wait_for_topics([topic])
        logger.info("created topic %s with %d partitions", topic, partitions or settings.telemetry_partitions)
        return True
    finally:
        admin.close()


def topic_configs(settings: Settings, topic: str, names: tuple[str, ...]) -> dict[str, str]:
    """The topic's effective values of some configuration entries (defaults included); {} when it does not exist."""
    admin = admin_client(settings)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(names))], config_filter="all"
        )
    except UnknownTopicOrPartitionError:
        return {}
    except KafkaError as exc:
        raise broker_unavailable(settings, exc) from None
    finally:
        admin.close()
    entries = described.get("topic", {}).get(topic, {})
    return {name: entry["value"] for name, entry in entries.items() if entry.get("value") is not None}


@dataclass(frozen=True)
class PartitionLag:
    """End offset, committed offset and lag of one partition for one consumer group."""

    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed or 0)


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """Partition → end offset (the offset the next record will get)."""
    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    except (KafkaError, OSError) as exc:
        raise broker_unavailable(settings, exc) from None
    finally:
        consumer.close()


def group_lag(settings: Settings, topic: str, group: str) -> list[PartitionLag]:
    """Per-partition lag of `group` on `topic` (committed offsets against end offsets)."""
    ends = end_offsets(settings, topic)
    admin = admin_client(settings)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
    except KafkaError:
        committed = {}
    finally:
        admin.close()
    by_partition = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    return [PartitionLag(topic, p, end, by_partition.get(p)) for p, end in sorted(ends.items())]
