"""Loss at the source is recorded and loud: records deleted before the ingest read them, offsets missing inside the
log, and a compacted topic (refused on start). Against the real broker and real Delta tables."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic

from common.kafka_io import client_config, end_offsets
from consumer.bronze import gaps as source_gaps
from consumer.bronze import ingest as ingest_bronze
from consumer.bronze.source import Continuity
from lake import delta_io, tables
from ops import status
from tests.conftest import REPO
from tests.kafka_helpers import bronze_rows, env_of, produce_raw


def _records(*offsets: int, timestamp: int = -1) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=o, timestamp=timestamp) for o in offsets]


def test_jumps_within_and_before_a_poll_are_gaps_and_their_reason_comes_from_the_log_start():
    tp = TopicPartition("t", 0)
    continuity = Continuity(lambda tps: {tp: 5})
    continuity.expect({tp: 3})
    assert continuity.check_assigned() == [source_gaps.Gap("t", 0, 3, 4, "deleted")]
    assert continuity.polled(tp, _records(5, 6, 9, 10, 15)) == [
        source_gaps.Gap("t", 0, 7, 8, "not_in_log"),
        source_gaps.Gap("t", 0, 11, 14, "not_in_log"),
    ]
    assert continuity.polled(tp, _records(16, 17)) == []
    # the consumer's offset reset after retention deleted records while it lagged: the jump lies below the log start
    reset = Continuity(lambda tps: {tp: 100})
    reset.expect({tp: 18})
    reset.pending.clear()
    assert reset.polled(tp, _records(100, 101)) == [source_gaps.Gap("t", 0, 18, 99, "deleted")]


def test_a_gap_is_recorded_once_however_often_it_is_detected(settings):
    path = Path(tables.GAPS.path(settings))
    gap = source_gaps.Gap("t", 1, 10, 19, "deleted")
    assert source_gaps.record(path, [gap]) == [gap]
    assert source_gaps.record(path, [gap]) == []  # a crash before the bronze commit: re-detected, not re-recorded
    later = source_gaps.Gap("t", 1, 30, 30, "not_in_log")
    assert source_gaps.record(path, [gap, later]) == [later]
    rows = delta_io.read(path).sort("from_offset")
    assert rows.select("partition", "from_offset", "to_offset", "records", "reason").rows() == [
        (1, 10, 19, 10, "deleted"),
        (1, 30, 30, 1, "not_in_log"),
    ]
    summary = source_gaps.summary(settings)
    assert (summary.gaps, summary.records, summary.open_gaps, summary.open_records) == (2, 11, 2, 11)
    acknowledged = source_gaps.acknowledge(settings, now=datetime.now(UTC))
    assert (acknowledged.open_gaps, acknowledged.records) == (0, 11)


def _delete_before(settings, cut: dict[int, int]) -> None:
    admin = KafkaAdminClient(**client_config(settings))
    try:
        admin.delete_records({TopicPartition(settings.telemetry_topic, p): o for p, o in cut.items()})
    finally:
        admin.close()


@pytest.mark.integration
def test_records_deleted_before_ingest_are_a_recorded_gap_and_a_red_status(kafka_settings, caplog):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(1000)))
    assert ingest_bronze.run(kafka_settings, max_records=1000, idle_exit_s=30).records == 1000
    marks = end_offsets(kafka_settings, kafka_settings.telemetry_topic)
    produce_raw(kafka_settings, (b"b%d" % i for i in range(2000)))
    ends = end_offsets(kafka_settings, kafka_settings.telemetry_topic)
    cut = {p: marks[p] + (ends[p] - marks[p]) // 2 for p in ends}  # delete half of each partition's new records
    _delete_before(kafka_settings, cut)
    deleted = sum(cut[p] - marks[p] for p in cut)
    with caplog.at_level(logging.ERROR, logger="consumer.bronze.gaps"):
        stats = ingest_bronze.run(kafka_settings, max_records=2000 - deleted, idle_exit_s=30)
    assert stats.records == 2000 - deleted
    rows = bronze_rows(kafka_settings)
    assert rows.height == rows.unique().height == 3000 - deleted
    recorded = delta_io.read(tables.GAPS.path(kafka_settings)).sort("partition")
    expected = [(p, marks[p], cut[p] - 1, cut[p] - marks[p], "deleted") for p in sorted(cut) if cut[p] > marks[p]]
    assert recorded.select("partition", "from_offset", "to_offset", "records", "reason").rows() == expected
    assert len([r for r in caplog.records if "records lost at the source" in r.message]) == len(expected)
    check = {c.name: c for c in status.checks(kafka_settings)}["bronze gaps"]
    assert not check.healthy
    assert check.detail.startswith(f"{deleted} records lost at the source in {len(expected)} gaps (see bronze/gaps")
    # a restart finds the table's position past the gap: nothing recorded twice
    assert ingest_bronze.run(kafka_settings, idle_exit_s=2).records == 0
    assert delta_io.read(tables.GAPS.path(kafka_settings)).height == len(expected)
    source_gaps.acknowledge(kafka_settings)
    assert {c.name: c for c in status.checks(kafka_settings)}["bronze gaps"].healthy


@pytest.mark.integration
def test_records_deleted_before_the_first_ingest_are_a_gap_from_offset_zero(kafka_settings):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(600)), keys=[b"one"] * 600)
    partition = next(p for p, end in end_offsets(kafka_settings, kafka_settings.telemetry_topic).items() if end)
    _delete_before(kafka_settings, {partition: 250})
    assert ingest_bronze.run(kafka_settings, max_records=350, idle_exit_s=30).records == 350
    assert sorted(bronze_rows(kafka_settings)["offset"].to_list()) == list(range(250, 600))
    gaps = delta_io.read(tables.GAPS.path(kafka_settings))
    assert gaps.select("partition", "from_offset", "to_offset", "reason").rows() == [(partition, 0, 249, "deleted")]


@pytest.mark.integration
def test_a_compacted_topic_is_refused_on_start_with_the_setting_to_change(kafka_settings, tmp_path):
    admin = KafkaAdminClient(**client_config(kafka_settings))
    topic = kafka_settings.telemetry_topic + ".compacted"
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    admin.close()
    env = env_of(kafka_settings, TELEMETRY_TOPIC=topic)
    result = subprocess.run(
        [sys.executable, "-m", "consumer.bronze", "--idle-exit", "5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: topic {topic} has cleanup.policy=compact: compaction deletes older records of a key before bronze "
        f"may have read them; set it to delete (kafka-configs.sh --bootstrap-server "
        f"{kafka_settings.kafka_bootstrap_servers} --alter --entity-type topics --entity-name {topic} --add-config "
        "cleanup.policy=delete) or use another TELEMETRY_TOPIC"
    )
    assert "Traceback" not in result.stderr
    assert not tables.BRONZE.path(kafka_settings).exists()


def test_a_waiting_record_older_than_half_the_retention_is_warned_about_once_per_assignment(caplog):
    tp = TopicPartition("t", 0)
    continuity = Continuity(lambda tps: {tp: 0}, configs={"retention.ms": str(3_600_000)})
    continuity.expect({tp: 0})
    old = int(datetime.now(UTC).timestamp() * 1000) - 2_000_000  # 33 minutes old, retention 60 minutes
    with caplog.at_level(logging.WARNING, logger="consumer.bronze.source"):
        continuity.polled(tp, _records(0, timestamp=old))
        continuity.polled(tp, _records(1, timestamp=old))
    assert [r.message for r in caplog.records] == [
        "t partition 0: the oldest record waiting is 0.6 h old, and the topic's retention.ms is 1.0 h: records will be "
        "deleted before bronze reads them if the lag grows; raise retention.ms of t"
    ]
