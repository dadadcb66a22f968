"""Helpers for the producer tests: small fleets, a JSON Schema validator, reading a topic back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import polars as pl
from kafka import KafkaConsumer, TopicPartition

from common.kafka_io import client_config, end_offsets
from config.settings import Settings
from producer.fleet import synthetic_fleet
from producer.simulator import Simulator
from producer.sink import Outcome
from tests.conftest import REPO

SCHEMA_PATH = REPO / "config" / "event_schema_v1.json"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def simulate(
    homes: int = 3, *, seed: int = 7, ticks: int = 5, interval_ms: int = 1000
) -> tuple[Simulator, pl.DataFrame]:
    """A simulator of a small synthetic fleet and the events of `ticks` consecutive readings."""
    sim = Simulator(synthetic_fleet(homes, seed=seed), seed=seed)
    frame = sim.frame([sim.step(T0_MS + k * interval_ms) for k in range(ticks)])
    return sim, frame


def read_topic(settings: Settings, *, topic: str | None = None) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of the topic as (partition, offset, key, value), up to the end offsets at call time."""
    topic = topic or settings.telemetry_topic
    ends = {p: o for p, o in end_offsets(settings, topic).items() if o > 0}
    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in ends])
    consumer.seek_to_beginning()
    records, remaining = [], dict(ends)
    deadline = time.monotonic() + 60
    while remaining:
        if time.monotonic() > deadline:
            raise AssertionError(f"could not read {topic} to its end offsets {ends}")
        for tp, batch in consumer.poll(timeout_ms=1000, max_records=100_000).items():
            for r in batch:
                if r.offset < ends[tp.partition]:
                    records.append((tp.partition, r.offset, r.key, r.value))
            if batch and batch[-1].offset + 1 >= ends[tp.partition]:
                remaining.pop(tp.partition, None)
    consumer.close()
    return records


def tiny_csv(path: Path) -> Path:
    """A CSV of 5 readings of two devices, out of time order, with a power column in kW, and its mapping."""
    path.write_text(
        "when,unit,t,kw\n"
        "2026-01-01 00:00:10,a,20.5,1.0\n"
        "2026-01-01 00:00:00,a,20.0,2.0\n"
        "2026-01-01 00:00:05,b,19.0,0.5\n"
        "2026-01-01 00:01:00,b,19.5,0.25\n"
        "2026-01-01 00:00:20,a,21.0,1.5\n",
        encoding="utf-8",
    )
    path.with_suffix(".toml").write_text(TINY_MAPPING, encoding="utf-8")
    return path


TINY_MAPPING = """
[time]
column = "when"
format = "%Y-%m-%d %H:%M:%S"
[device]
column = "unit"
device_type = "thermostat"
home_id = "home_test"
home_name = "Test Home"
latitude = 1.5
longitude = 2.5
location = "lab"
manufacturer = "Acme"
model = "T1"
installation_date = "2025-01-01"
[device.ids]
a = "dev_a"
b = "dev_b"
[metrics]
temperature_c = { column = "t" }
power_w = { column = "kw", scale = 1000.0 }
"""


class ListSink:
    """Stands in for KafkaSink: keeps every record it is given."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.failed = 0
        self.events = 0

    def send(self, keys: list[bytes], values: list[bytes], *, event_ms: list[int] | None = None) -> None:
        self.records.extend(zip(keys, values))
        self.events += len(values) if event_ms is not None else 0

    def outcome(self) -> Outcome:
        return Outcome(self.events, 0, 0, [])
