"""Bronze ingest throughput next to a bare kafka-python poll loop over the same pre-loaded topic, in one run."""

from __future__ import annotations

import logging
import time

import orjson
from kafka import KafkaConsumer, KafkaProducer

from benchmarks.harness import BenchContext, Result
from common.kafka_io import client_config, ensure_topic
from consumer.bronze import ingest as ingest_bronze
from lake import delta_io, tables

logger = logging.getLogger(__name__)


def preload(ctx: BenchContext, n: int) -> None:
    """`n` realistic telemetry events (about 330 bytes of JSON each) in the benchmark topic."""
    ensure_topic(ctx.settings)
    producer = KafkaProducer(
        **client_config(ctx.settings),
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type="lz4",
        max_in_flight_requests_per_connection=5,
    )
    payloads = [
        orjson.dumps(
            {
                "schema_version": 1,
                "event_id": f"00000000-0000-4000-8000-{i:012d}",
                "device_id": f"device_{i:04d}",
                "home_id": f"home_{i // 7:03d}",
                "device_type": "thermostat",
                "seq": i,
                "timestamp": "2026-11-23T06:00:00.000Z",
                "status": "online",
                "alert": None,
                "temperature_c": 21.5,
                "humidity_pct": 44.0,
                "setpoint_c": 21.0,
                "power_w": 180.25,
                "energy_wh": 0.05,
            }
        )
        for i in range(1000)
    ]
    keys = [f"device_{i:04d}".encode() for i in range(1000)]
    for i in range(n):
        producer.send(ctx.settings.telemetry_topic, value=payloads[i % 1000], key=keys[i % 1000])
    producer.flush()
    producer.close()


def bare_poll_loop(ctx: BenchContext, n: int) -> float:
    """Seconds a consumer that does nothing with the records needs to poll `n` of them."""
    consumer = KafkaConsumer(
        ctx.settings.telemetry_topic,
        **client_config(ctx.settings),
        group_id="bench-bare",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    seen, start = 0, None
    while seen < n:
        polled = consumer.poll(timeout_ms=200, max_records=50_000)
        if polled and start is None:
            start = time.perf_counter()
        seen += sum(len(r) for r in polled.values())
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return elapsed


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(1_000_000)
    preload(ctx, n)
    bare_s = bare_poll_loop(ctx, n)
    stats = ingest_bronze.run(ctx.settings, max_records=n, idle_exit_s=30)
    table = delta_io.open_table(tables.BRONZE.path(ctx.settings))
    files = len(table.file_uris()) if table else 0
    bare_rate, rate = n / bare_s, stats.rate
    logger.info("ingest: %d records at %.0f rec/s (%d files); bare poll loop %.1fs", stats.records, rate, files, bare_s)
    return [
        Result(
            figure="bronze ingest, Kafka → Delta (records/s, incl. commits)",
            value=rate,
            unit="rec/s",
            reference=bare_rate,
            reference_label="bare poll loop",
            goal=">= 90% of bare loop",
            met=rate >= 0.9 * bare_rate,
        ),
        Result(
            figure=f"bronze files written for {stats.records:,} records",
            value=files,
            unit="files",
            reference_label=f"{stats.records / max(files, 1):,.0f} rows per file",
        ),
    ]
