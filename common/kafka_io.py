"""Kafka I/O shared by every component: client settings, broker checks, topic creation, offsets and lag."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (
    InvalidReplicationFactorError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from config.errors import BrokerUnavailableError, KafkaSecurityError
from config.settings import Settings

logger = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings every kafka-python client gets: bootstrap servers, security protocol, TLS (CA, client
    certificate, hostname check on) and SASL (PLAIN or SCRAM) as configured."""
    protocol = settings.kafka_protocol
    config: dict[str, Any] = {
        "bootstrap_servers": [f"{host}:{port}" for host, port in settings.bootstrap_servers],
        "security_protocol": protocol,
    }
    if protocol.endswith("SSL"):
        config.update(
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_check_hostname=True,
            ssl_certfile=settings.kafka_ssl_certfile or None,
            ssl_keyfile=settings.kafka_ssl_keyfile or None,
            ssl_password=settings.kafka_ssl_key_password or None,
        )
    if protocol.startswith("SASL"):
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return config


def admin_client(settings: Settings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    """An admin client, or BrokerUnavailableError with what to do."""
    check_broker(settings)
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
    """Return when a bootstrap server accepts a TCP connection (and, with TLS, a handshake with the configured CA
    and client certificate); BrokerUnavailableError at once otherwise."""
    sock, host, port = _open_any(settings, timeout_s=timeout_s)
    with sock:
        if settings.kafka_protocol.endswith("SSL"):
            _tls_handshake(settings, sock, host, port)


def _open_any(settings: Settings, *, timeout_s: float) -> tuple[socket.socket, str, int]:
    """A TCP connection to the first bootstrap server that accepts one."""
    error: OSError | None = None
    for host, port in settings.bootstrap_servers:
        try:
            return socket.create_connection((host, port), timeout=timeout_s), host, port
        except OSError as exc:
            error = exc
    raise broker_unavailable(settings, error)


def _tls_handshake(settings: Settings, sock: socket.socket, host: str, port: int) -> None:
    """The TLS handshake kafka-python will make, done once up front: its own failure is a 10 s timeout."""
    try:
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(
                settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile, settings.kafka_ssl_key_password or None
            )
        context.wrap_socket(sock, server_hostname=host).close()
    except ssl.SSLCertVerificationError as exc:
        raise KafkaSecurityError(
            f"TLS handshake with {host}:{port} failed: {exc.verify_message}; check that KAFKA_SSL_CAFILE is the CA "
            "that signed the brokers' certificates and that they name the host in KAFKA_BOOTSTRAP_SERVERS"
        ) from None
    except (ssl.SSLError, ValueError) as exc:
        raise KafkaSecurityError(
            f"TLS handshake with {host}:{port} failed: {getattr(exc, 'reason', None) or exc}; check KAFKA_SSL_CAFILE, "
            "KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE and KAFKA_SSL_KEY_PASSWORD"
        ) from None
    except OSError:
        pass  # a connection dropped in the handshake: kafka-python's own retries decide


def broker_reachable(settings: Settings, *, timeout_s: float = 1.0) -> bool:
    """Whether a bootstrap server accepts a TCP connection (cheap: no Kafka client, no request)."""
    try:
        check_broker(settings, timeout_s=timeout_s)
        return True
    except BrokerUnavailableError:
        return False


def broker_unavailable(settings: Settings, exc: BaseException | None = None) -> BrokerUnavailableError:
    """The one-line error for a broker that does not answer (or, with SASL, answers but refuses the login)."""
    reason = f" ({type(exc).__name__})" if exc is not None else ""
    if settings.kafka_protocol.startswith("SASL") and isinstance(exc, KafkaTimeoutError):
        with contextlib.suppress(BrokerUnavailableError):  # the broker is there: a refused login looks like a timeout
            _open_any(settings, timeout_s=1.0)[0].close()
            return KafkaSecurityError(
                f"Kafka at {settings.kafka_bootstrap_servers} accepts connections but the client could not log in "
                f"as {settings.kafka_sasl_username!r} with {settings.kafka_sasl_mechanism}{reason}: check "
                "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM"
            )
    return BrokerUnavailableError(
        f"Kafka broker not reachable at {settings.kafka_bootstrap_servers}{reason}: "
        "start it with ./start.sh (or scripts/kafka_local.sh start), or set KAFKA_BOOTSTRAP_SERVERS"
    )


def ensure_topic(settings: Settings, topic: str | None = None, *, partitions: int | None = None) -> bool:
    """Create the topic if it is missing, with KAFKA_REPLICATION_FACTOR replicas and KAFKA_MIN_INSYNC_REPLICAS;
    True when it was created. An existing topic with fewer replicas than configured gets a warning."""
    topic = topic or settings.telemetry_topic
    partitions = partitions or settings.telemetry_partitions
    replicas = settings.kafka_replication_factor
    admin = admin_client(settings)
    try:
        if topic in admin.list_topics():
            _warn_under_replicated(admin, topic, replicas)
            return False
        new = NewTopic(
            topic, partitions, replicas, topic_configs={"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
        )
        try:
            admin.create_topics([new])
        except TopicAlreadyExistsError:
            return False
        except InvalidReplicationFactorError:
            raise BrokerUnavailableError(
                f"cannot create topic {topic} with KAFKA_REPLICATION_FACTOR={replicas}: the cluster at "
                f"{settings.kafka_bootstrap_servers} has fewer brokers running; lower it or start more brokers"
            ) from None
        admin.wait_for_topics([topic])
        logger.info(
            "created topic %s with %d partitions, %d replicas, min.insync.replicas %d",
            topic,
            partitions,
            replicas,
            settings.kafka_min_insync_replicas,
        )
        return True
    except KafkaError as exc:
        raise broker_unavailable(settings, exc) from None
    finally:
        admin.close()


def _warn_under_replicated(admin: KafkaAdminClient, topic: str, replicas: int) -> None:
    described = admin.describe_topics([topic])
    actual = min((len(p["replica_nodes"]) for t in described for p in t["partitions"]), default=replicas)
    if actual < replicas:
        logger.warning(
            "topic %s has %d replica(s), fewer than KAFKA_REPLICATION_FACTOR=%d: it was created before; "
            "raise it with kafka-reassign-partitions",
            topic,
            actual,
            replicas,
        )


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
