"""Test helpers around the real broker and the bronze table: produce raw records, await conditions, run the ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import polars as pl
from kafka import KafkaProducer

from common.kafka_io import client_config
from config.settings import Settings, env_names
from lake import delta_io, tables
from tests.conftest import REPO

T = TypeVar("T")


def produce_raw(
    settings: Settings,
    values: Iterable[bytes | None],
    *,
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[list[tuple[str, bytes]]] | None = None,
    topic: str | None = None,
) -> int:
    """Send raw records with a plain kafka-python producer (acks=all, idempotent: a retry on a slow broker never
    writes a record twice, so tests can count); returns how many were sent."""
    producer = KafkaProducer(
        **client_config(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        batch_size=512 * 1024,
        compression_type="lz4",
    )
    sent = 0
    for i, value in enumerate(values):
        producer.send(
            topic or settings.telemetry_topic,
            value=value,
            key=keys[i] if keys else f"k{i % 97}".encode(),
            headers=headers[i] if headers else None,
        )
        sent += 1
    producer.flush()
    producer.close()
    return sent


def wait_for(
    condition: Callable[[], T], *, timeout_s: float = 60.0, what: str = "condition", interval_s: float = 0.1
) -> T:
    """Poll `condition` until it returns something truthy, and return that; fail the test with `what` after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)
    return value


def bronze_rows(settings: Settings, columns: Sequence[str] = ("partition", "offset")) -> pl.DataFrame:
    """The bronze table's rows (some columns), empty when it does not exist yet."""
    return delta_io.read(tables.BRONZE.path(settings), columns=columns)


def bronze_count(settings: Settings) -> int:
    table = delta_io.open_table(tables.BRONZE.path(settings))
    return 0 if table is None else table.count()


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a child process that builds the same settings."""
    env = {k: v for k, v in os.environ.items() if k not in env_names()}
    env.update(settings.to_env())
    env.update(extra)
    return env


def start_module(module: str, settings: Settings, *args: str, log: Path, **extra_env: str) -> subprocess.Popen:
    """Start `python -m module args` from the repo root with the settings in its environment."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env_of(settings, **extra_env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
