"""The producer against the real broker: exact counts, per-device order, faults read back, replay, CLI behaviour."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from kafka.partitioner.default import murmur2

from common.events import HEADER
from common.kafka_io import end_offsets
from config.catalog import device_types
from config.settings import Settings
from lake.devices import load_catalog
from producer import telemetry_sim
from producer.faults import FAULT_KINDS, QUARANTINE_KINDS
from producer.fleet import synthetic_fleet
from producer.ledger import read_ledger
from tests.conftest import REPO, SHARED_DATASETS
from tests.kafka_helpers import env_of, wait_for
from tests.producer.fixtures import read_topic

pytestmark = pytest.mark.integration

REAL_CSV = SHARED_DATASETS / "iot_env_telemetry" / "iot_env_telemetry_3dev_2020-07-13.csv"
REAL_MAPPING = REPO / "config" / "replay" / "iot_env_telemetry.toml"


def _events_by_device(records: list[tuple[int, int, bytes | None, bytes | None]]) -> dict[str, list[tuple[int, int]]]:
    """device_id → [(partition, seq)] in offset order."""
    by_device: dict[str, list[tuple[int, int]]] = {}
    for partition, _, key, value in sorted(records, key=lambda r: (r[0], r[1])):
        event = orjson.loads(value)
        assert key == event["device_id"].encode()
        by_device.setdefault(event["device_id"], []).append((partition, event["seq"]))
    return by_device


def test_backfill_of_n_events_arrives_exactly_once_in_seq_order_per_device(kafka_settings: Settings) -> None:
    summary = telemetry_sim.run(kafka_settings, homes=3, seed=5, events=2_000)
    records = read_topic(kafka_settings)
    assert summary.sent == len(records) == 2_000 and summary.failed == 0
    by_device = _events_by_device(records)
    fleet = synthetic_fleet(3, seed=5)
    assert set(by_device) == set(fleet["device_id"])
    partitions = len(end_offsets(kafka_settings, kafka_settings.telemetry_topic))
    for device_id, events in by_device.items():
        assert {p for p, _ in events} == {(murmur2(device_id.encode()) & 0x7FFFFFFF) % partitions}, device_id
        assert [s for _, s in events] == list(range(len(events))), device_id  # seq order, no gap, no duplicate
    registered = load_catalog(kafka_settings).filter(pl.col("device_id").is_in(fleet["device_id"].implode()))
    assert registered.height == fleet.height


def test_seq_continues_where_the_previous_run_stopped(kafka_settings: Settings) -> None:
    telemetry_sim.run(kafka_settings, homes=1, seed=2, events=100)
    telemetry_sim.run(kafka_settings, homes=1, seed=2, events=100)
    for device_id, events in _events_by_device(read_topic(kafka_settings)).items():
        assert [s for _, s in events] == list(range(len(events))), device_id


def _classify(value: bytes, seen: set[bytes], known: set[str], now: datetime) -> str:
    """Which fault kind a record is, judged only from what a consumer sees ("valid" when none)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "non_utf8"
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if value in seen:
        return "duplicate"
    seen.add(value)
    if set(HEADER) - set(event):
        return "missing_field"
    if not isinstance(event["seq"], int):
        return "wrong_type"
    if event["device_id"] not in known:
        return "unknown_device"
    if any(
        not lo <= event[m] <= hi for m, (lo, hi) in device_types()[event["device_type"]].ranges.items() if m in event
    ):
        return "out_of_range"
    ts = datetime.fromisoformat(event["timestamp"])
    if ts > now + timedelta(hours=1):
        return "future_timestamp"
    return "late_event" if ts < now - timedelta(hours=2) else "valid"  # the backfill covers the last few minutes


def test_fault_counts_match_what_a_consumer_reads_and_the_ledger(kafka_settings: Settings, tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.parquet"
    summary = telemetry_sim.run(kafka_settings, homes=2, seed=9, events=4_000, bad_fraction=0.05, ledger=ledger_path)
    known = set(synthetic_fleet(2, seed=9)["device_id"])
    seen: set[bytes] = set()
    now = datetime.now(UTC)
    read = Counter(_classify(v, seen, known, now) for _, _, _, v in sorted(read_topic(kafka_settings)))
    injected = {k: v for k, v in summary.faults.items() if v}
    assert set(injected) == set(FAULT_KINDS)  # every kind occurs at 5% of 4,000
    assert read == Counter({"valid": summary.sent - summary.faults["late_event"], **injected})
    ledger = read_ledger(ledger_path)
    assert ledger["events"].sum() == summary.sent == 4_000
    for kind in FAULT_KINDS:
        assert ledger[f"fault_{kind}"].sum() == summary.faults[kind], kind
    quarantined = sum(read[k] for k in QUARANTINE_KINDS)
    assert quarantined == int(ledger.select(pl.sum_horizontal(f"fault_{k}" for k in QUARANTINE_KINDS)).sum().item())


def test_replay_of_the_real_dataset_puts_every_row_in_the_topic(kafka_settings: Settings) -> None:
    rows = pl.scan_csv(REAL_CSV).select(pl.len()).collect().item()
    summary = telemetry_sim.run(kafka_settings, replay=REAL_CSV, replay_config=REAL_MAPPING, speed=0, seed=1)
    assert summary.sent == rows == 50_270
    assert sum(end_offsets(kafka_settings, kafka_settings.telemetry_topic).values()) == rows
    catalog = load_catalog(kafka_settings)
    assert catalog.filter(pl.col("home_id") == "home_iot_lab")["device_id"].to_list() == [
        "iot_env_sensor_01",
        "iot_env_sensor_02",
        "iot_env_sensor_03",
    ]


def test_sigterm_flushes_prints_a_summary_and_exits_zero(kafka_settings: Settings) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "producer.telemetry_sim", "--homes", "2", "--interval", "0.2"],
        cwd=REPO,
        env=env_of(kafka_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    topic = kafka_settings.telemetry_topic
    try:
        wait_for(lambda: sum(end_offsets(kafka_settings, topic).values()) > 0, timeout_s=30, what="first records")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    sent = int(out.decode().split("sent=")[1].split()[0])
    assert sent == sum(end_offsets(kafka_settings, topic).values()) > 0


def test_unreachable_broker_gives_one_line_and_a_non_zero_exit(kafka_settings: Settings) -> None:
    env = env_of(kafka_settings, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    done = subprocess.run(
        [sys.executable, "-m", "producer.telemetry_sim", "--events", "10"],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Kafka broker not reachable at 127.0.0.1:1")
