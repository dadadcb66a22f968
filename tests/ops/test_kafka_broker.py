"""The local broker and the Kafka I/O helpers, against a real broker."""

import subprocess
import sys
import uuid

from kafka import KafkaConsumer, KafkaProducer

from common.kafka_io import client_config, end_offsets, ensure_topic, group_lag
from tests.conftest import REPO, make_settings


def test_produce_and_consume_round_trip(kafka_settings):
    topic = kafka_settings.telemetry_topic
    producer = KafkaProducer(**client_config(kafka_settings), acks="all")
    for i in range(100):
        producer.send(topic, key=f"dev-{i % 7}".encode(), value=f"v{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic,
        **client_config(kafka_settings),
        group_id=kafka_settings.bronze_consumer_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received = []
    while len(received) < 100:
        for records in consumer.poll(timeout_ms=5000).values():
            received.extend(records)
    consumer.commit()
    consumer.close()
    assert sorted(r.value for r in received) == sorted(f"v{i}".encode() for i in range(100))
    by_key = {}
    for r in received:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())
    assert sum(end_offsets(kafka_settings, topic).values()) == 100
    lags = group_lag(kafka_settings, topic, kafka_settings.bronze_consumer_group)
    assert len(lags) == 6 and sum(p.lag for p in lags) == 0


def test_ensure_topic_is_idempotent(kafka_bootstrap):
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, TELEMETRY_TOPIC=f"t.{uuid.uuid4().hex[:8]}", TELEMETRY_PARTITIONS=3
    )
    assert ensure_topic(settings) is True
    assert ensure_topic(settings) is False
    assert len(end_offsets(settings, settings.telemetry_topic)) == 3


def test_missing_broker_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.topic_admin", "ensure"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Kafka broker not reachable at 127.0.0.1:1 (ConnectionRefusedError): start it with ./start.sh "
        "(or scripts/kafka_local.sh start), or set KAFKA_BOOTSTRAP_SERVERS"
    ]
