"""Sentinel latency: event → episode change visible in gold/alert_episodes and on the alerts topic.

A paced producer sends 1,000 smart plugs at 1,000 and at 10,000 events/s (event time = send time); every second
five more plugs draw 3,500 W (over their 3,000 W limit) for hold + 2 s, then go back to normal. The real sentinel
runs as its own process. A
watcher consumes the alerts topic and another follows the table's commits; for each open and resolve, latency =
the moment the change was seen − the event time of the reading that caused it (the reading that confirmed the
hold, or the first normal one). "No growing lag" compares the last third's median with the first third's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
from kafka import KafkaConsumer, KafkaProducer

from benchmarks.harness import BenchContext, Result
from common.kafka_io import client_config, ensure_topic
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
WARMUP_S = 8.0
OVER_W, NORMAL_W = 3500.0, 100.0
DEVICES = 1000
STARTS_PER_S = 5


@dataclass
class Seen:
    """change_id → (wall time seen, event time of its reading) for each place it became visible."""

    topic: dict[str, tuple[float, float]] = field(default_factory=dict)
    lake: dict[str, tuple[float, float]] = field(default_factory=dict)


def _produce(settings: Settings, rate: int, duration_s: float) -> int:
    """Send `rate` events/s for `duration_s` in 10 ms ticks; plug d offends from second d // STARTS_PER_S on for
    hold + 2 s."""
    producer = KafkaProducer(**client_config(settings), acks=1, linger_ms=5, batch_size=256 * 1024)
    per_tick, sent, start = rate // 100, 0, time.time()
    offending_s = settings.sentinel_hold_s + 2.0
    while (now := time.time()) - start < duration_s:
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for i in range(per_tick):
            device = (sent + i) % DEVICES
            power = OVER_W if 0 <= now - start - device // STARTS_PER_S < offending_s else NORMAL_W
            body = orjson.dumps(
                {
                    "schema_version": 1,
                    "event_id": f"b-{sent + i}",
                    "device_id": f"plug-{device:05d}",
                    "home_id": "home-b",
                    "device_type": "smart_plug",
                    "seq": sent + i,
                    "timestamp": stamp,
                    "status": "online",
                    "alert": None,
                    "power_w": power,
                    "energy_wh": 0.0,
                }
            )
            producer.send(settings.telemetry_topic, value=body, key=f"plug-{device:05d}".encode())
        sent += per_tick
        time.sleep(max(0.0, start + sent / rate - time.time()))
    producer.flush()
    producer.close()
    return sent


def _watch_topic(settings: Settings, seen: Seen, stop: threading.Event) -> None:
    consumer = KafkaConsumer(
        settings.alerts_topic,
        **client_config(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    while not stop.is_set():
        for records in consumer.poll(timeout_ms=50).values():
            now = time.time()
            for record in records:
                change = orjson.loads(record.value)
                seen.topic.setdefault(change["change_id"], (now, _epoch(change["changed_at"])))
    consumer.close()


def _watch_lake(settings: Settings, seen: Seen, stop: threading.Event) -> None:
    path, table = tables.ALERT_EPISODES.path(settings), None
    while not stop.wait(0.01):
        if table is None:
            table = delta_io.open_table(path)
            version = -1
            if table is None:
                continue
        table.update_incremental()
        if table.version() == version:
            continue
        now, version = time.time(), table.version()
        rows = pl.from_arrow(table.to_pyarrow_table(columns=["change_id", "changed_at"]))
        for change_id, changed_at in rows.iter_rows():  # type: ignore[union-attr]
            seen.lake.setdefault(change_id, (now, changed_at.timestamp()))


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _latencies(seen: dict[str, tuple[float, float]]) -> pl.Series:
    ordered = sorted(seen.values(), key=lambda pair: pair[1])
    return pl.Series([wall - event for wall, event in ordered], dtype=pl.Float64)


def _measure(ctx: BenchContext, rate: int, duration_s: float) -> Seen:
    """Run the sentinel on a topic, alerts topic and lake of its own for this rate."""
    settings = dataclasses.replace(
        ctx.settings,
        telemetry_topic=f"{ctx.settings.telemetry_topic}.{rate}",
        alerts_topic=f"{ctx.settings.telemetry_topic}.{rate}.alerts",
        lake_root=ctx.workdir / f"lake-{rate}",
    )
    ensure_topic(settings)
    ensure_topic(settings, settings.alerts_topic)
    env = {**os.environ, **settings.to_env()}
    log = (ctx.workdir / f"sentinel-{rate}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "consumer.sentinel"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    seen, stop = Seen(), threading.Event()
    watchers = [
        threading.Thread(target=watch, args=(settings, seen, stop), daemon=True)
        for watch in (_watch_topic, _watch_lake)
    ]
    try:
        for watcher in watchers:
            watcher.start()
        time.sleep(WARMUP_S)  # the sentinel joins its group and the watchers theirs
        _produce(settings, rate, duration_s)
        time.sleep(3.0)  # the last changes land
    finally:
        stop.set()
        proc.terminate()
        proc.wait(60)
        for watcher in watchers:
            watcher.join(10)
    return seen


def _results(rate: int, seen: Seen) -> list[Result]:
    results = []
    for where, found in (("lake table", seen.lake), ("alerts topic", seen.topic)):
        latency = _latencies(found)
        if latency.is_empty():
            results.append(
                Result(
                    figure=f"sentinel p95 at {rate:,}/s ({where})",
                    value=float("nan"),
                    unit="ms",
                    goal="changes seen",
                    met=False,
                )
            )
            continue
        p50, p95, p99 = (float(latency.quantile(q)) * 1000 for q in (0.5, 0.95, 0.99))
        goal = rate == 1000
        results += [
            Result(
                figure=f"sentinel event → change visible, {where}, {rate:,} events/s, p50 ({len(latency)} changes)",
                value=p50,
                unit="ms",
                reference=200.0,
                reference_label="200 ms claim",
            ),
            Result(
                figure=f"… p95, {where}, {rate:,} events/s",
                value=p95,
                unit="ms",
                reference=200.0,
                reference_label="200 ms claim",
                goal="<= 1,000 ms (stretch 200)" if goal else "",
                met=p95 <= 1000.0 if goal else None,
            ),
            Result(
                figure=f"… p99, {where}, {rate:,} events/s",
                value=p99,
                unit="ms",
                reference=200.0,
                reference_label="200 ms claim",
            ),
        ]
        if rate != 1000 and where == "lake table":
            third = max(len(latency) // 3, 1)
            growth = (float(latency.tail(third).median()) - float(latency.head(third).median())) * 1000
            results.append(
                Result(
                    figure=f"latency growth, last third − first third median, {rate:,} events/s",
                    value=growth,
                    unit="ms",
                    goal="no growing lag (< 500 ms)",
                    met=growth < 500.0,
                )
            )
    return results


def run(ctx: BenchContext) -> list[Result]:
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    duration = max(20.0, 90.0 * ctx.scale)
    results = []
    for rate in (1000, 10_000):
        seen = _measure(ctx, rate, duration)
        logger.info("sentinel at %d/s: %d changes on the topic, %d in the table", rate, len(seen.topic), len(seen.lake))
        results += _results(rate, seen)
    return results
