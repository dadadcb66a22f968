"""Freshness: how old the newest event visible in gold is, with the default pipeline and a steady 1,000 events/s.

Runs the real processes (live producer, bronze ingest, scheduler) with default intervals and samples gold's
`device_health_metrics.last_seen` once a second: per device, sample time − last_seen is the age of the newest
event gold shows, an upper bound on each event's time-to-gold (devices emit every second).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from benchmarks.harness import BenchContext, Result
from common.kafka_io import ensure_topic
from lake import delta_io, tables

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
HOMES_FOR_1000_DEVICES = 125  # the synthetic fleet averages 8 devices per home
WARMUP_S = 45.0


def _start(module: str, *args: str, ctx: BenchContext, log: Path) -> subprocess.Popen:
    env = {**os.environ, **ctx.settings.to_env()}
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def _ages(gold_health: Path) -> list[float]:
    """Per device: seconds between now and the newest event gold shows for it."""
    table = delta_io.read(gold_health, columns=["last_seen"])
    if table.is_empty():
        return []
    now = datetime.now(UTC)
    return [(now - seen).total_seconds() for seen in table["last_seen"].to_list() if seen is not None]


def run(ctx: BenchContext) -> list[Result]:
    ensure_topic(ctx.settings)
    duration = max(60.0, 240.0 * ctx.scale)
    log = ctx.workdir / "freshness.log"
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    procs = [
        _start("consumer.bronze", ctx=ctx, log=log),
        _start("consumer.scheduler", ctx=ctx, log=log),
        _start("producer.telemetry_sim", "--homes", str(HOMES_FOR_1000_DEVICES), "--interval", "1", "--seed", "1",
               "--duration", str(int(duration + WARMUP_S)), ctx=ctx, log=log),
    ]
    gold_health = tables.DEVICE_HEALTH.path(ctx.settings)
    ages: list[float] = []
    try:
        time.sleep(WARMUP_S)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            ages.extend(_ages(gold_health))
            time.sleep(1.0)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    if not ages:
        logger.error("freshness: gold never showed data; see %s", log)
        return [Result(figure="freshness p95 (event → gold)", value=float("nan"), unit="s", goal="<= 30 s", met=False)]
    series = pl.Series(ages)
    p50, p95 = float(series.quantile(0.5)), float(series.quantile(0.95))
    return [
        Result(figure="freshness p50 (event → gold, 1,000 events/s)", value=p50, unit="s"),
        Result(figure="freshness p95 (event → gold, 1,000 events/s)", value=p95, unit="s", goal="<= 30 s",
               met=p95 <= 30.0),
    ]
