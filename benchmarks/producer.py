"""Producer backfill throughput into the broker next to a bare kafka-python send loop of identical payloads."""

from __future__ import annotations

import logging
import time

import numpy as np
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from benchmarks.harness import BenchContext, Result
from common.kafka_io import ensure_topic
from producer import telemetry_sim
from producer.encode import encode
from producer.fleet import synthetic_fleet
from producer.simulator import Simulator
from producer.sink import producer_config

logger = logging.getLogger(__name__)

HOMES = 125  # about 1,000 devices
ROUNDS = 2  # alternate bare loop and producer; keep each side's best (the machine is shared)


def payloads(n_ticks: int = 20) -> tuple[list[bytes], list[bytes]]:
    """Keys and JSON values exactly as the producer sends them (about 20,000 events)."""
    fleet = synthetic_fleet(HOMES, seed=1)
    sim = Simulator(fleet, seed=1)
    phase = np.arange(fleet.height, dtype=np.int64)
    _, keys, values = encode(sim.frame([sim.step(1_767_225_600_000 + k * 1000 + phase) for k in range(n_ticks)]))
    return keys, values


def bare_send_loop(
    ctx: BenchContext, keys: list[bytes], values: list[bytes], n: int, *, cached_partitions: bool = False
) -> float:
    """Records/s of a loop that only calls send() on pre-serialised records (same producer settings), then flushes.

    By default kafka-python hashes every key (its default partitioner); with `cached_partitions` the loop passes
    each key's partition, computed once, as the producer does.
    """
    producer = KafkaProducer(**producer_config(ctx.settings))
    topic, m = ctx.settings.telemetry_topic, len(values)
    count = len(producer.partitions_for(topic))
    partition = [(murmur2(k) & 0x7FFFFFFF) % count for k in keys] if cached_partitions else [None] * m
    start = time.perf_counter()
    for i in range(n):
        producer.send(topic, value=values[i % m], key=keys[i % m], partition=partition[i % m])
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return n / elapsed


def run(ctx: BenchContext) -> list[Result]:
    ensure_topic(ctx.settings)
    n = ctx.n(300_000, minimum=20_000)
    keys, values = payloads()
    bare, cached, produced = [], [], []
    for _ in range(ROUNDS):
        bare.append(bare_send_loop(ctx, keys, values, n))
        cached.append(bare_send_loop(ctx, keys, values, n, cached_partitions=True))
        produced.append(telemetry_sim.run(ctx.settings, homes=HOMES, seed=1, events=n).rate)
        logger.info(
            "producer: bare loop %.0f rec/s (cached partitions %.0f), producer %.0f events/s",
            bare[-1],
            cached[-1],
            produced[-1],
        )
    rate = max(produced)
    return [
        Result(
            figure=f"producer backfill, {n:,} events of ~1,000 devices (events/s)",
            value=rate,
            unit="events/s",
            reference=max(bare),
            reference_label="bare send loop, same payloads and settings",
            goal=">= 80% of bare loop",
            met=rate >= 0.8 * max(bare),
        ),
        Result(
            figure="producer backfill vs a bare loop that also caches partitions",
            value=rate,
            unit="events/s",
            reference=max(cached),
            reference_label="bare send loop, partition per key computed once",
        ),
    ]
