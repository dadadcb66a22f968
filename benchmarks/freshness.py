"""Freshness: how old the newest event visible in gold is, with the default pipeline at a steady 1,000 and
10,000 events/s.

Runs the real processes (live producer, bronze ingest, scheduler) with default settings and samples gold's
`device_health_metrics.last_seen` once a second: per device, sample time − last_seen is the age of the newest
event gold shows, an upper bound on each event's time-to-gold (devices emit every second). Lag growth is the
slope of the per-sample median age over the measured window (0: gold keeps up).
"""

from __future__ import annotations

import dataclasses
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
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEVICES_PER_HOME = 8  # the synthetic fleet's average
WARMUP_S = 45.0


def _start(module: str, *args: str, settings: Settings, log: Path) -> subprocess.Popen:
    env = {**os.environ, **settings.to_env()}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def _ages(gold_health: Path) -> list[float]:
    """Per device: seconds between now and the newest event gold shows for it."""
    table = delta_io.read(gold_health, columns=["last_seen"])
    if table.is_empty():
        return []
    now = datetime.now(UTC)
    return [(now - seen).total_seconds() for seen in table["last_seen"].to_list() if seen is not None]


def measure(settings: Settings, *, events_per_s: int, duration: float, log: Path) -> tuple[pl.Series, float]:
    """Ages of gold's newest events sampled over `duration` seconds after the warm-up, and their growth (s/s)."""
    ensure_topic(settings)
    homes = events_per_s // DEVICES_PER_HOME
    procs = [
        _start("consumer.bronze", settings=settings, log=log),
        _start("consumer.scheduler", settings=settings, log=log),
        _start(
            "producer.telemetry_sim",
            "--homes",
            str(homes),
            "--interval",
            "1",
            "--seed",
            "1",
            "--duration",
            str(int(duration + WARMUP_S)),
            settings=settings,
            log=log,
        ),
    ]
    gold_health = tables.DEVICE_HEALTH.path(settings)
    ages: list[float] = []
    medians: list[tuple[float, float]] = []
    try:
        time.sleep(WARMUP_S)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < duration:
            sample = _ages(gold_health)
            if sample:
                ages.extend(sample)
                medians.append((elapsed, float(pl.Series(sample).median())))  # type: ignore[arg-type]
            time.sleep(1.0)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    if len(medians) < 2:
        return pl.Series(ages, dtype=pl.Float64), float("nan")
    trend = pl.DataFrame(medians, schema=["t", "age"], orient="row")
    growth = float(trend.select(pl.cov("t", "age") / pl.col("t").var()).item())
    return pl.Series(ages, dtype=pl.Float64), growth


def run(ctx: BenchContext) -> list[Result]:
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    log = ctx.workdir / "freshness.log"
    results = []
    for rate, goal, full_s in ((1_000, 8.0, 240.0), (10_000, 15.0, 120.0)):
        settings = dataclasses.replace(
            ctx.settings,
            lake_root=ctx.workdir / f"lake-{rate}",
            telemetry_topic=f"{ctx.settings.telemetry_topic}.{rate}",
        )
        duration = max(60.0, full_s * ctx.scale)
        ages, growth = measure(settings, events_per_s=rate, duration=duration, log=log)
        label = f"{rate:,} events/s, {duration:.0f} s"
        if ages.is_empty():
            logger.error("freshness: gold never showed data at %d events/s; see %s", rate, log)
            results.append(
                Result(
                    figure=f"freshness p95 (event → gold, {label})",
                    value=float("nan"),
                    unit="s",
                    goal=f"<= {goal:g} s",
                    met=False,
                )
            )
            continue
        p50, p95 = float(ages.quantile(0.5)), float(ages.quantile(0.95))  # type: ignore[arg-type]
        results += [
            Result(figure=f"freshness p50 (event → gold, {label})", value=p50, unit="s"),
            Result(
                figure=f"freshness p95 (event → gold, {label})",
                value=p95,
                unit="s",
                goal=f"<= {goal:g} s",
                met=p95 <= goal,
            ),
            Result(
                figure=f"freshness lag growth ({label}; median age's slope)",
                value=growth * 1000,
                unit="ms/s",
                goal="no growing lag (<= 20 ms/s)",
                met=growth <= 0.02,
            ),
        ]
    return results
