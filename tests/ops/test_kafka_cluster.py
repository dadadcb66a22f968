"""A local 3-node KRaft cluster: topics with replication factor 3 and min.insync.replicas 2, the project's producer
loses nothing while a node is SIGKILLed, and the node rejoins when started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psutil
import pytest

from common.kafka_io import admin_client, end_offsets, ensure_topic, topic_configs
from config.errors import ConfigError, LocalKafkaError
from ops.kafka_cluster import LocalKafkaCluster, temporary_cluster
from ops.local_kafka import free_port
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of, wait_for
from tests.producer.fixtures import read_topic

SMALL_HEAP = "-Xms64m -Xmx256m"


def test_nodes_take_every_second_port_from_the_bootstrap_server():
    cluster = LocalKafkaCluster.for_settings(
        make_settings(KAFKA_LOCAL_BROKERS=3, KAFKA_BOOTSTRAP_SERVERS="localhost:19092")
    )
    assert [(n.node_id, n.port, n.controller_port) for n in cluster.nodes] == [
        (1, 19092, 19093),
        (2, 19094, 19095),
        (3, 19096, 19097),
    ]
    assert {n.quorum for n in cluster.nodes} == {"1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"}
    single = LocalKafkaCluster.for_settings(make_settings()).nodes
    assert [(n.port, n.quorum) for n in single] == [(9092, "1@127.0.0.1:9093")]  # the quick start, unchanged
    with pytest.raises(ConfigError, match=r"^KAFKA_BOOTSTRAP_SERVERS lists 2 servers for KAFKA_LOCAL_BROKERS=3"):
        LocalKafkaCluster.for_settings(
            make_settings(KAFKA_LOCAL_BROKERS=3, KAFKA_BOOTSTRAP_SERVERS="localhost:1,localhost:3")
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalKafkaCluster]:
    with temporary_cluster(
        home=REPO / ".kafka", version=make_settings().kafka_version, nodes=3, heap_opts=SMALL_HEAP
    ) as running:
        yield running


def _in_sync(settings, topic: str) -> set[int]:
    """How many replicas are in sync, over the topic's partitions."""
    admin = admin_client(settings)
    try:
        return {len(p["isr_nodes"]) for t in admin.describe_topics([topic]) for p in t["partitions"]}
    finally:
        admin.close()


@pytest.mark.integration
def test_a_sigkilled_node_loses_no_acknowledged_record_and_rejoins(cluster, tmp_path):
    for node in cluster.nodes:  # each JVM runs with the small heap asked for
        assert "-Xmx256m" in psutil.Process(node.pid()).cmdline()
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=cluster.bootstrap,
        KAFKA_REPLICATION_FACTOR=3,
        KAFKA_MIN_INSYNC_REPLICAS=2,
        LAKE_ROOT=tmp_path / "lake",
        TELEMETRY_TOPIC=f"replicated.{uuid.uuid4().hex[:8]}",
    )
    assert ensure_topic(settings) is True
    assert topic_configs(settings, settings.telemetry_topic, ("min.insync.replicas",)) == {"min.insync.replicas": "2"}
    assert _in_sync(settings, settings.telemetry_topic) == {3}
    producer = subprocess.Popen(
        [sys.executable, "-m", "producer.telemetry_sim", "--homes", "20", "--events", "150000"],
        cwd=REPO,
        env=env_of(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = cluster.nodes[1]
    try:
        wait_for(
            lambda: sum(end_offsets(settings, settings.telemetry_topic).values()) > 20_000,
            timeout_s=120,
            what="the producer to be under way",
        )
        pid = victim.pid()
        os.kill(pid, signal.SIGKILL)
        psutil.Process(pid).wait(timeout=30)
        stdout, stderr = producer.communicate(timeout=300)
    finally:
        producer.kill()
    assert producer.returncode == 0, stderr[-2000:]
    summary = dict(part.split("=") for part in stdout.strip().splitlines()[-1].split() if "=" in part)
    assert summary["failed"] == summary["unconfirmed"] == "0"
    delivered = int(summary["delivered"])
    assert _in_sync(settings, settings.telemetry_topic) == {2}  # serving on two of three replicas
    records = read_topic(settings)  # every record, read back from the surviving replicas
    assert len(records) == len({(p, o) for p, o, _, _ in records}) == delivered > 20_000

    assert cluster.start() == 1  # only the killed node was down
    wait_for(lambda: _in_sync(settings, settings.telemetry_topic) == {3}, timeout_s=120, what="the node to rejoin")
    assert len(read_topic(settings)) == delivered


@pytest.mark.integration
def test_a_formatted_node_refuses_another_quorum(tmp_path):
    """Changing KAFKA_LOCAL_BROKERS (or the ports) under formatted data is refused, not half-applied."""
    one = LocalKafkaCluster.on_ports(
        home=REPO / ".kafka",
        version=make_settings().kafka_version,
        ports=[(free_port(), free_port())],
        state_home=tmp_path,
    ).nodes[0]
    (one.state_dir / "data").mkdir(parents=True)
    (one.state_dir / "data" / "meta.properties").write_text("cluster.id=abc\nnode.id=1\n")
    (one.state_dir / "quorum.voters").write_text(one.quorum + "\n")
    three = LocalKafkaCluster.on_ports(
        home=REPO / ".kafka",
        version=make_settings().kafka_version,
        ports=[(one.port, one.controller_port), (free_port(), free_port()), (free_port(), free_port())],
        state_home=tmp_path,
    )
    with pytest.raises(LocalKafkaError, match=r"belongs to a cluster with voters 1@127\.0\.0\.1:\d+, not 1@"):
        three.start(timeout_s=30)
    assert not three.running()
