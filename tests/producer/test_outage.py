"""A broker outage longer than the producer's delivery timeout: the producer stops within its bounds, exits 1 and
says exactly which events it cannot vouch for; its counts plus the topic's records account for every event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import polars as pl
import pytest

from common.kafka_io import end_offsets, ensure_topic
from config.settings import Settings
from ops.local_kafka import LocalKafka, free_port
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of, wait_for

pytestmark = pytest.mark.integration
DELIVERY_TIMEOUT_S = 6


def _summary(stdout: str) -> dict[str, int]:
    line = next(line for line in stdout.splitlines() if line.startswith("sent="))
    return {
        k: int(v.rstrip("/s"))
        for k, v in (part.split("=") for part in line.split() if "=" in part)
        if v.rstrip("/s").isdigit()
    }


def _backfill_then_kill_the_broker(tmp_path) -> tuple[LocalKafka, Settings, subprocess.Popen]:
    """A broker, a long backfill under way into it, and the broker SIGKILLed."""
    broker = LocalKafka(
        home=REPO / ".kafka",
        version=Settings().kafka_version,
        port=free_port(),
        controller_port=free_port(),
        state_home=tmp_path / "broker",
    )
    broker.start()
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        LAKE_ROOT=tmp_path / "lake",
        TELEMETRY_TOPIC=f"outage.{uuid.uuid4().hex[:8]}",
        PRODUCER_DELIVERY_TIMEOUT_S=DELIVERY_TIMEOUT_S,
        PRODUCER_STOP_TIMEOUT_S=5,
    )
    ensure_topic(settings)
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.telemetry_sim",
            "--homes",
            "50",
            "--events",
            "3000000",
            "--ledger",
            str(tmp_path / "ledger.csv"),
        ],
        cwd=REPO,
        env=env_of(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: sum(end_offsets(settings, settings.telemetry_topic).values()) > 20_000,
        timeout_s=120,
        what="the backfill to be under way",
    )
    os.kill(broker.pid(), signal.SIGKILL)
    return broker, settings, producer


def test_an_outage_longer_than_the_delivery_timeout_ends_with_an_honest_summary(tmp_path):
    broker, settings, producer = _backfill_then_kill_the_broker(tmp_path)
    ledger = tmp_path / "ledger.csv"
    try:
        down_at = time.monotonic()  # the broker stays away for longer than the delivery timeout
        stdout, stderr = producer.communicate(timeout=120)
        took = time.monotonic() - down_at
    finally:
        producer.kill()
    assert producer.returncode == 1, stderr[-2000:]
    assert took < 60, f"the producer took {took:.0f}s to give up"
    assert "Traceback" not in stderr, stderr[-3000:]
    summary = _summary(stdout)
    assert summary["sent"] == summary["delivered"] + summary["failed"] + summary["unconfirmed"]
    assert summary["failed"] + summary["unconfirmed"] > 0 and summary["delivered"] > 0
    assert "Traceback" not in stderr
    undelivered = pl.read_csv(ledger.with_name("ledger.undelivered.csv"))
    assert int(undelivered["events"].sum()) == summary["failed"] + summary["unconfirmed"]
    assert set(undelivered["outcome"]) <= {"failed", "unconfirmed"}

    broker.start()  # back: the topic holds every delivered event, and perhaps some unconfirmed ones, nothing else
    try:
        in_topic = sum(end_offsets(settings, settings.telemetry_topic).values())
    finally:
        broker.stop()
    assert summary["delivered"] <= in_topic <= summary["delivered"] + summary["unconfirmed"]


def test_sigterm_during_an_outage_stops_within_the_stop_timeout(tmp_path):
    _, _, producer = _backfill_then_kill_the_broker(tmp_path)
    try:
        producer.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        stdout, stderr = producer.communicate(timeout=60)
        took = time.monotonic() - asked
    finally:
        producer.kill()
    assert took < 5 + 10, f"SIGTERM took {took:.0f}s"  # PRODUCER_STOP_TIMEOUT_S=5, plus closing
    assert producer.returncode == 1 and "Traceback" not in stderr, stderr[-2000:]
    summary = _summary(stdout)
    assert summary["sent"] == summary["delivered"] + summary["failed"] + summary["unconfirmed"]
