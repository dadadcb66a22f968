"""The pipeline on a replicated cluster, with the lake on a local folder and on the local S3 server: 3 Kafka
nodes (RF 3, min.insync.replicas 2) and 3 bronze ingest workers in one consumer group; one node and one worker
are SIGKILLed mid-stream, and gold still reconciles with the producer's ledger: nothing lost, nothing duplicated.

Run alone with `./scripts/test.sh -m e2e`.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.kafka_io import end_offsets, ensure_topic
from config.errors import BrokerUnavailableError
from config.settings import Settings
from dashboard.kafka_view import group_members
from ops.kafka_cluster import LocalKafkaCluster, temporary_cluster
from tests.conftest import REPO, make_settings
from tests.e2e.helpers import Pipeline, check_against_ledger, produce, wait_drained
from tests.kafka_helpers import bronze_count, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WORKERS = ("ingest-1", "ingest-2", "ingest-3")
FLEET = ("--homes", "12", "--seed", "11", "--start", "2026-11-22T22:00:00Z", "--end", "2026-11-23T00:30:00Z")


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Where the lake lives, as the settings it takes: a local folder, or a prefix of a bucket on the local S3
    server (LAKE_ROOT and the AWS_* settings)."""
    if request.param == "local":
        return {"LAKE_ROOT": str(tmp_path / "lake")}
    store = request.getfixturevalue("object_store")
    return {**store.storage_options(), "LAKE_ROOT": f"s3://{store.bucket}/{uuid.uuid4().hex}/lake"}


@pytest.fixture
def cluster() -> Iterator[LocalKafkaCluster]:
    with temporary_cluster(
        home=REPO / ".kafka", version=make_settings().kafka_version, nodes=3, heap_opts="-Xms64m -Xmx256m"
    ) as running:
        yield running


def _members(settings: Settings) -> int:
    """Members of the bronze group (0 while its coordinator is still being elected)."""
    try:
        return group_members(settings, settings.bronze_consumer_group).height
    except BrokerUnavailableError:
        return 0


def test_sigkill_of_a_node_and_an_ingest_worker_loses_and_duplicates_nothing(cluster, lake, tmp_path):
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=cluster.bootstrap,
        KAFKA_REPLICATION_FACTOR=3,
        KAFKA_MIN_INSYNC_REPLICAS=2,
        **lake,
    )
    ensure_topic(settings)
    pipeline = Pipeline(settings, tmp_path)
    try:
        for worker in WORKERS:
            pipeline.start(worker)
        wait_for(
            lambda: _members(settings) == len(WORKERS),
            timeout_s=120,
            what="three ingest workers in one group",
        )
        pipeline.start("scheduler")
        producer = produce(settings, tmp_path / "ledger.csv", *FLEET, "--interval", "20", log=tmp_path / "producer.log")
        wait_for(lambda: bronze_count(settings) > 5_000, timeout_s=120, what="the ingest to be under way")
        os.kill(cluster.nodes[1].pid(), signal.SIGKILL)
        pipeline.kill("ingest-2")  # the other two take over its partitions from the offsets in bronze
        assert producer.poll() is None, "the producer finished before the kills: make the stream longer"
        in_bronze_at_kill = bronze_count(settings)
        assert producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        wait_drained(settings, timeout_s=300)
        assert in_bronze_at_kill < sum(end_offsets(settings, settings.telemetry_topic).values())
    finally:
        pipeline.stop()
    totals = check_against_ledger(settings, tmp_path / "ledger.csv")
    assert totals["events"] > 40_000
