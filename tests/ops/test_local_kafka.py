"""The Docker-less broker: data survives stop/start, a SIGKILLed broker recovers, clear errors."""

import os
import signal

import psutil
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common.kafka_io import ensure_topic
from config.errors import LocalKafkaError
from config.settings import Settings
from ops import local_kafka
from ops.local_kafka import LocalKafka, free_port
from tests.conftest import REPO, make_settings

pytestmark = pytest.mark.integration


def _count(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def test_data_survives_stop_start_and_sigkill(tmp_path):
    broker = LocalKafka(
        home=REPO / ".kafka",
        version=Settings().kafka_version,
        port=free_port(),
        controller_port=free_port(),
        state_home=tmp_path,
    )
    assert broker.start() is True
    try:
        assert broker.start() is False  # second start while running: says so
        ensure_topic(make_settings(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap), "persist", partitions=3)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for i in range(300):
            producer.send("persist", key=b"k%d" % (i % 5), value=b"v%d" % i)
        producer.flush()
        producer.close()
        assert broker.stop() is True
        assert broker.running() is False
        broker.start()
        assert _count(broker.bootstrap, "persist") == 300
        pid = broker.pid()
        os.kill(pid, signal.SIGKILL)
        psutil.Process(pid).wait(timeout=30)
        broker.start()
        assert _count(broker.bootstrap, "persist") == 300
    finally:
        broker.stop()
    assert broker.stop() is False


def test_missing_java_or_maven_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    broker = LocalKafka(home=tmp_path, version="4.4.0", port=free_port())
    with pytest.raises(LocalKafkaError, match=r"^'java' not found: install a Java 17\+ runtime"):
        broker.install()


def test_a_cluster_id_starting_with_a_dash_formats_and_starts(tmp_path, monkeypatch):
    """About one random id in 64 starts with '-', which the storage tool once read as an option."""
    monkeypatch.setattr(local_kafka, "new_cluster_id", lambda: "-bcdefghijklmnopqrstuv")
    broker = LocalKafka(
        home=REPO / ".kafka",
        version=Settings().kafka_version,
        port=free_port(),
        controller_port=free_port(),
        state_home=tmp_path,
    )
    try:
        assert broker.start() is True
        meta = (broker.state_dir / "data" / "meta.properties").read_text()
        assert "cluster.id=-bcdefghijklmnopqrstuv" in meta
    finally:
        broker.stop()
