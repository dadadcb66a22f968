"""The whole pipeline end to end: producer → Kafka → bronze → silver → gold, checked against the producer's ledger.

Run alone with `./scripts/test.sh -m e2e`.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pandas as pd
import pytest

from common.kafka_io import ensure_topic
from lake import delta_io, tables
from ops.local_kafka import LocalKafka, free_port, port_open
from tests.conftest import REPO, SHARED_DATASETS, make_settings
from tests.e2e.helpers import Pipeline, check_against_ledger, produce, wait_drained
from tests.kafka_helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

FLEET = ("--homes", "12", "--seed", "5", "--start", "2026-11-22T22:00:00Z")  # 101 devices across midnight
REPLAY_CSV = SHARED_DATASETS / "iot_env_telemetry" / "iot_env_telemetry_3dev_2020-07-13.csv"


def test_gold_reconciles_with_what_the_producer_sent(kafka_settings, tmp_path):
    pipeline = Pipeline(kafka_settings, tmp_path)
    pipeline.start("ingest")
    pipeline.start("scheduler")
    try:
        producer = produce(
            kafka_settings,
            tmp_path / "ledger.csv",
            *FLEET,
            "--end",
            "2026-11-23T01:00:00Z",
            "--interval",
            "30",
            "--bad-fraction",
            "0.03",
            log=tmp_path / "producer.log",
        )
        assert producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        wait_drained(kafka_settings)
    finally:
        pipeline.stop()
    totals = check_against_ledger(kafka_settings, tmp_path / "ledger.csv")
    assert totals["events"] > 30_000 and totals["quarantined"] > 0 and totals["duplicates"] > 0
    summary = delta_io.read(tables.DAILY_BUSINESS.path(kafka_settings))
    assert int(summary["events"].sum()) == totals["events"]


def test_sigkill_of_ingest_scheduler_and_broker_loses_and_duplicates_nothing(tmp_path):
    home = tmp_path / "kafka"
    home.mkdir()
    (home / "lib").symlink_to(REPO / ".kafka" / "lib")
    broker = LocalKafka(home=home, version=make_settings().kafka_version, port=free_port(), controller_port=free_port())
    broker.start()
    settings = make_settings(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, LAKE_ROOT=tmp_path / "lake")
    ensure_topic(settings)
    pipeline = Pipeline(settings, tmp_path)
    rng = random.Random(2026)
    try:
        pipeline.start("ingest")
        pipeline.start("scheduler")
        producer = produce(
            settings,
            tmp_path / "ledger.csv",
            *FLEET,
            "--end",
            "2026-11-23T02:00:00Z",
            "--interval",
            "20",
            "--bad-fraction",
            "0.03",
            log=tmp_path / "producer.log",
        )
        for name in ("ingest", "scheduler", "ingest", "scheduler"):
            time.sleep(rng.uniform(0.5, 3.0))  # a random moment is the point: no condition to await
            pipeline.kill(name)
            pipeline.start(name)
        assert producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        time.sleep(rng.uniform(0.5, 2.0))
        os.kill(broker.pid(), signal.SIGKILL)  # the ingest and the scheduler keep running through the outage
        wait_for(
            lambda: not port_open(broker.host, broker.port), timeout_s=30, what="the killed broker's port to close"
        )
        broker.start()
        wait_drained(settings, timeout_s=300)
    finally:
        pipeline.stop()
        broker.stop()
    check_against_ledger(settings, tmp_path / "ledger.csv")


def test_replayed_real_dataset_matches_pandas(kafka_settings, tmp_path):
    if not REPLAY_CSV.exists():
        pytest.fail(f"{REPLAY_CSV} is missing: the shared datasets folder must sit beside the repo")
    pipeline = Pipeline(kafka_settings, tmp_path)
    pipeline.start("ingest")
    pipeline.start("scheduler")
    try:
        producer = produce(
            kafka_settings,
            tmp_path / "ledger.csv",
            "--replay",
            str(REPLAY_CSV),
            "--replay-config",
            str(REPO / "config" / "replay" / "iot_env_telemetry.toml"),
            "--speed",
            "0",
            log=tmp_path / "producer.log",
        )
        assert producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        wait_drained(kafka_settings)
    finally:
        pipeline.stop()
    raw = pd.read_csv(REPLAY_CSV).drop_duplicates()  # its duplicated message is one reading: silver drops the copy
    raw["date"] = pd.to_datetime(raw["ts"], unit="s", utc=True).dt.date
    raw["device_id"] = raw["device"].str.replace("iot-device-", "iot_env_sensor_", regex=False)
    expected = (
        raw.groupby(["device_id", "date"])
        .agg(
            readings=("temp", "size"),
            avg_temperature_c=("temp", "mean"),
            min_temperature_c=("temp", "min"),
            max_temperature_c=("temp", "max"),
        )
        .reset_index()
    )
    gold = (
        delta_io.read(tables.DAILY_ENERGY.path(kafka_settings))
        .select(expected.columns)
        .sort("device_id", "date")
        .to_pandas()
    )
    gold["date"] = gold["date"].dt.date
    assert len(gold) == len(expected) == 3 * expected["date"].nunique()
    pd.testing.assert_frame_equal(
        gold.reset_index(drop=True),
        expected.sort_values(["device_id", "date"]).reset_index(drop=True),
        check_dtype=False,
        rtol=1e-9,
    )
