"""Many workers (issue 16, item 5): three bronze ingest processes, each in its own working directory as if on its
own host, one consumer group, write one bronze table on S3 from a 6-partition topic; one is SIGKILLed mid-stream
and restarted. Every record lands exactly once, checked against the raw topic read independently."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from kafka import KafkaConsumer, TopicPartition

from common.kafka_io import client_config, end_offsets, ensure_topic
from config.settings import Settings
from lake import delta_io, tables
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import bronze_count, env_of, produce_raw, wait_for

pytestmark = pytest.mark.integration

FIRST, SECOND = 30_000, 30_000
FAST = {"BRONZE_FLUSH_RECORDS": "2000", "BRONZE_FLUSH_SECONDS": "0.5", "LOG_LEVEL": "INFO"}


def _worker(settings: Settings, host: Path) -> subprocess.Popen:
    """`python -m consumer.bronze` started in `host` (its own working directory, no .env, no repo checkout)."""
    host.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "consumer.bronze"],
        cwd=host,
        env=env_of(settings, PYTHONPATH=str(REPO), **FAST),
        stdout=(host / "ingest.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


def _assigned(host: Path) -> bool:
    return "consumer.bronze.ingest: assigned " in (host / "ingest.log").read_text()


def _raw_topic(settings: Settings) -> pd.DataFrame:
    """Every record of the topic as (partition, offset, value), read with a plain consumer into pyarrow/pandas."""
    ends = end_offsets(settings, settings.telemetry_topic)
    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False, consumer_timeout_ms=10_000)
    parts = [TopicPartition(settings.telemetry_topic, p) for p in ends]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    rows: dict[str, list] = {"partition": [], "offset": [], "value": []}
    wanted = sum(ends.values())
    for record in consumer:
        rows["partition"].append(record.partition)
        rows["offset"].append(record.offset)
        rows["value"].append(record.value)
        if len(rows["offset"]) == wanted:
            break
    consumer.close()
    schema = pa.schema([("partition", pa.int32()), ("offset", pa.int64()), ("value", pa.binary())])
    return pa.table(rows, schema=schema).to_pandas()


def test_three_workers_on_three_hosts_write_one_s3_bronze_table_exactly_once_through_a_sigkill(
    object_store, kafka_bootstrap, tmp_path
):
    suffix = uuid.uuid4().hex[:10]
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        TELEMETRY_TOPIC=f"test.workers.{suffix}",
        TELEMETRY_PARTITIONS=6,
        BRONZE_CONSUMER_GROUP=f"test-workers-{suffix}",
        LAKE_ROOT=f"s3://{object_store.bucket}/{suffix}/lake",
        **object_store.storage_options(),
    )
    ensure_topic(settings)
    hosts = [tmp_path / f"host-{i}" for i in range(3)]
    workers = [_worker(settings, host) for host in hosts]
    try:
        wait_for(lambda: all(_assigned(h) for h in hosts), timeout_s=60, what="all three workers to join the group")
        produce_raw(settings, (b'{"n":%d}' % i for i in range(FIRST)))
        wait_for(lambda: bronze_count(settings) >= FIRST // 3, timeout_s=60, what="bronze to fill partly")
        workers[1].send_signal(signal.SIGKILL)  # mid-stream: the other two keep committing meanwhile
        workers[1].wait(10)
        assert bronze_count(settings) < FIRST + SECOND, "the kill came too late to prove anything"
        produce_raw(settings, (b'{"n":%d}' % i for i in range(FIRST, FIRST + SECOND)))
        workers[1] = _worker(settings, hosts[1])  # restarted on its "host"
        wait_for(lambda: bronze_count(settings) >= FIRST + SECOND, timeout_s=90, what="every record in bronze")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker, host in zip(workers, hosts):
            assert worker.wait(30) in (0, -signal.SIGKILL), (host / "ingest.log").read_text()[-2000:]

    bronze = delta_io.read(tables.BRONZE.path(settings), columns=["partition", "offset", "value"]).to_pandas()
    raw = _raw_topic(settings)
    assert len(raw) == FIRST + SECOND and raw["partition"].nunique() == 6
    assert not bronze.duplicated(["partition", "offset"]).any()
    merged = raw.merge(bronze, on=["partition", "offset"], how="outer", suffixes=("_topic", "_bronze"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts()
    assert (merged["value_topic"] == merged["value_bronze"]).all()
    assert not any((host / "data").exists() for host in hosts)  # nothing written to a local lake on any "host"
    # every worker wrote to the one table: the offsets markers of all 6 partitions are in its log
    table = delta_io.open_table(tables.BRONZE.path(settings))
    marker = tables.BRONZE.marker()
    assert all(table.transaction_version(marker.format(topic=settings.telemetry_topic, partition=p)) for p in range(6))
