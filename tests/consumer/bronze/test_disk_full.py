"""A full disk makes the ingest wait and retry without losing its place (real broker, real Delta table; the disk-full
error is injected into the append, as a tmpfs would need root)."""

from __future__ import annotations

import logging

import pytest

from common.kafka_io import group_lag
from consumer.bronze import disk_full
from consumer.bronze import ingest as ingest_bronze
from tests.kafka_helpers import bronze_rows, produce_raw


@pytest.mark.integration
def test_a_full_disk_is_waited_out_with_one_warning_and_nothing_lost(kafka_settings, monkeypatch, caplog):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(3000)))
    real_append, failures = ingest_bronze.append_batch, []

    def append(path, batch):
        if len(failures) < 4:
            failures.append(batch.records)
            raise OSError(28, "No space left on device")
        return real_append(path, batch)

    monkeypatch.setattr(ingest_bronze, "append_batch", append)
    monkeypatch.setattr(disk_full, "DISK_FULL_RETRY_S", (0.05, 0.2))
    with caplog.at_level(logging.WARNING, logger="consumer.bronze.disk_full"):
        stats = ingest_bronze.run(kafka_settings, max_records=3000, idle_exit_s=30)
    assert stats.records == 3000 and len(failures) == 4
    assert failures == sorted(failures) and failures[0] > 0  # the buffer was kept (paused partitions: no growth after)
    rows = bronze_rows(kafka_settings)
    assert rows.height == rows.unique().height == 3000
    warnings = [
        r.message for r in caplog.records if r.name == "consumer.bronze.disk_full" and r.levelno == logging.WARNING
    ]
    assert len([m for m in warnings if "the disk is full" in m]) == 1
    assert "free space under LAKE_ROOT" in warnings[0]
    assert any("disk space is back" in m for m in warnings)
    lag = group_lag(kafka_settings, kafka_settings.telemetry_topic, kafka_settings.bronze_consumer_group)
    assert sum(p.lag for p in lag) == 0
