"""Gold: full recompute over ≥ 10 M silver rows, then an incremental run after 10 k new events."""

from __future__ import annotations

import logging
from datetime import timedelta

from benchmarks.harness import BenchContext, Result, timed
from common.clock import ManualClock
from consumer.gold import run as silver_to_gold
from consumer.gold.sample import synthetic_silver, ts, write_silver

logger = logging.getLogger(__name__)

DAYS = 10
CHUNK = 1_000_000
NEW_EVENTS = 10_000
DEVICES = 700


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(10_000_000)
    start = ts("2026-11-10 00:00:00")
    end = start + timedelta(days=DAYS)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        chunk_start = start + timedelta(days=DAYS * first / n)
        write_silver(ctx.settings, synthetic_silver(size, start=chunk_start, days=DAYS * size / n, first_id=first, devices=DEVICES,
                                                    seed=first), version_marker=first)
    clock = ManualClock(end)
    full, full_s = timed(lambda: silver_to_gold.run(ctx.settings, clock=clock))
    clock.advance(10)
    late = end - timedelta(seconds=10)
    write_silver(ctx.settings, synthetic_silver(NEW_EVENTS, start=late, days=10 / 86400, first_id=n, seed=n, devices=DEVICES),
                 version_marker=n)
    incremental, inc_s = timed(lambda: silver_to_gold.run(ctx.settings, clock=clock))
    rate = n / full_s
    per_day = n // DAYS
    logger.info("gold: full %.1fs over %d rows (%d dates); incremental %.2fs (%d date(s))", full_s, n,
                len(full.dates), inc_s, len(incremental.dates))
    return [
        Result(figure=f"gold full recompute, {n:,} silver rows over {DAYS} days (rows/s)", value=rate,
               unit="rows/s", goal=">= 5,000,000 rows/s", met=rate >= 5_000_000),
        Result(figure=f"gold incremental run after {NEW_EVENTS:,} new events (day of {per_day:,} rows, "
                      f"24 h health window)", value=inc_s, unit="s", goal="<= 1 s", met=inc_s <= 1.0),
    ]
