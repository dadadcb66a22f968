"""Silver → gold: one incremental run that recomputes exactly the event dates silver commits touched.

    python -m consumer.silver_to_gold [--full]

Each gold table records the silver (and quarantine) version it consumed in the same commit as its rows
(app_id `gold:<table>`). A run finds the event dates whose silver files changed since that version, recomputes
those dates from silver (partition-pruned reads) and replaces exactly those partitions in one atomic commit per
table. A killed run leaves every table at its last commit; the next run redoes what is missing.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import polars as pl

from common import delta_io
from common.cli import run as run_cli
from common.cli import setup_logging
from common.clock import Clock, SystemClock
from config.catalog import load_catalog
from config.settings import Settings
from consumer import gold_io
from consumer import gold_transforms as gt
from consumer.gold_health import device_health_metrics

logger = logging.getLogger(__name__)

DATE_TABLES = ("daily_energy_consumption", "daily_home_summary", "daily_business_summary", "telemetry_1min",
               "alerts", "data_quality_daily", "monthly_billing")
QUARANTINE_TABLES = ("daily_business_summary", "data_quality_daily")
PARTITIONED = ("daily_energy_consumption", "telemetry_1min", "alerts")


@dataclass(frozen=True, kw_only=True)
class GoldRunResult:
    """What one gold run consumed and wrote."""

    silver_version: int | None
    quarantine_version: int | None = None
    dates: tuple[date, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _behind(settings: Settings, silver_version: int, quarantine_version: int | None, *, full: bool
            ) -> dict[str, tuple[int | None, int | None]]:
    """Tables whose recorded versions lag the sources, with what they recorded (None: recompute every date)."""
    behind = {}
    for table in DATE_TABLES:
        s = None if full else gold_io.consumed(settings, table)
        q = None if full else gold_io.consumed(settings, table, "quarantine")
        if s != silver_version or (table in QUARANTINE_TABLES and quarantine_version is not None
                                   and q != quarantine_version):
            behind[table] = (s, q)
    return behind


def _dates(settings: Settings, silver, quarantine, behind: dict[str, tuple[int | None, int | None]]) -> set[date]:
    """Event dates to recompute: touched in silver (or quarantine) since the oldest version a lagging table recorded."""
    if not behind:
        return set()
    since_s = [s for s, _ in behind.values()]
    dates = gold_io.touched_dates(silver, gold_io.silver_path(settings), "event_date",
                                  None if None in since_s else min(since_s))  # type: ignore[type-var]
    if quarantine is not None and any(t in QUARANTINE_TABLES for t in behind):
        since_q = [q for t, (_, q) in behind.items() if t in QUARANTINE_TABLES]
        dates |= gold_io.touched_dates(quarantine, gold_io.quarantine_path(settings), "quarantine_date",
                                       None if None in since_q else min(since_q))  # type: ignore[type-var]
    return dates


def _daily_frames(settings: Settings, silver, quarantine, dates: set[date], now: datetime,
                  params: gt.GoldParams) -> dict[str, tuple[pl.DataFrame, str]]:
    """Every date-keyed table's rows for `dates`, with the predicate of the rows they replace."""
    rows = gold_io.read_dates(silver, "event_date", dates, gold_io.SILVER_COLUMNS)
    rejected = (gold_io.read_dates(quarantine, "quarantine_date", dates, gold_io.QUARANTINE_COLUMNS)
                if quarantine is not None else pl.DataFrame(schema={"quarantine_date": pl.Date,
                                                                    "failed_rules": pl.List(pl.String)}))
    days = gt.device_days(rows, params)
    by_date = gold_io.date_predicate("date", dates)
    cutoff = now.date() - timedelta(days=settings.telemetry_1min_retention_days)
    return {
        "daily_energy_consumption": (gt.daily_energy_consumption(days, params), by_date),
        "daily_home_summary": (gt.daily_home_summary(days, params), by_date),
        "daily_business_summary": (gt.daily_business_summary(days, gt.quarantined_per_day(rejected), params), by_date),
        "telemetry_1min": (gt.telemetry_1min(rows.filter(pl.col("event_date") >= cutoff)),
                           f"{by_date} OR date < '{cutoff.isoformat()}'"),
        "alerts": (gt.alerts(rows, params), by_date),
        "data_quality_daily": (gt.data_quality_daily(rows, rejected), by_date),
    }


def _billing(settings: Settings, dates: set[date], params: gt.GoldParams) -> tuple[pl.DataFrame, str]:
    """monthly_billing for the months of `dates`, from gold daily_energy_consumption."""
    months = {d.replace(day=1) for d in dates}
    days = {m + timedelta(days=i) for m in months for i in range(31) if (m + timedelta(days=i)).month == m.month}
    daily = gold_io.read_dates(delta_io.open_table(gold_io.gold_path(settings, "daily_energy_consumption")), "date",
                               days, ("date", "home_id", "energy_kwh"))
    if daily.is_empty():
        daily = pl.DataFrame(schema={"date": pl.Date, "home_id": pl.String, "energy_kwh": pl.Float64})
    return gt.monthly_billing(daily, params), gold_io.date_predicate("month", months)


def _health(settings: Settings, silver, now: datetime, params: gt.GoldParams) -> pl.DataFrame:
    """device_health_metrics over the trailing HEALTH_WINDOW_HOURS."""
    start = now - timedelta(hours=settings.health_window_hours)
    dates = {start.date() + timedelta(days=i) for i in range((now.date() - start.date()).days + 1)}
    window = gold_io.read_dates(silver, "event_date", dates, gold_io.SILVER_COLUMNS).filter(
        pl.col("event_time").is_between(pl.lit(start), pl.lit(now)))
    return device_health_metrics(window, load_catalog(settings), params, now=now, window_start=start)


def run(settings: Settings, *, clock: Clock | None = None, full: bool = False) -> GoldRunResult:
    """One incremental gold run (`full`: recompute every date); returns what it consumed and wrote."""
    clock = clock or SystemClock()
    now, started = clock.now(), time.perf_counter()
    silver = delta_io.open_table(gold_io.silver_path(settings))
    if silver is None:
        logger.info("gold: no silver table at %s yet; nothing to do", gold_io.silver_path(settings))
        return GoldRunResult(silver_version=None)
    quarantine = delta_io.open_table(gold_io.quarantine_path(settings))
    s, q = silver.version(), quarantine.version() if quarantine is not None else None
    versions = {"silver": s} | ({"quarantine": q} if q is not None else {})
    params = gt.GoldParams.from_settings(settings)
    behind = _behind(settings, s, q, full=full)
    dates = _dates(settings, silver, quarantine, behind)
    written: dict[str, int] = {}
    if dates:
        frames = _daily_frames(settings, silver, quarantine, dates, now, params)
        for table, (frame, predicate) in frames.items():
            if table in behind:
                gold_io.replace(settings, table, frame, predicate=predicate, versions=versions,
                                partition_by=("date",) if table in PARTITIONED else (), always=full)
                written[table] = frame.height
        if "monthly_billing" in behind:
            frame, predicate = _billing(settings, dates, params)
            gold_io.replace(settings, "monthly_billing", frame, predicate=predicate, versions={"silver": s},
                            always=full)
            written["monthly_billing"] = frame.height
    health = _health(settings, silver, now, params)
    gold_io.replace(settings, "device_health_metrics", health, predicate=None, versions={"silver": s}, always=True)
    written["device_health_metrics"] = health.height
    result = GoldRunResult(silver_version=s, quarantine_version=q, dates=tuple(sorted(dates)), rows=written,
                           seconds=time.perf_counter() - started)
    logger.info("gold: silver version %d, %d dates recomputed, %s rows in %.2fs", s, len(dates),
                sum(written.values()), result.seconds)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.silver_to_gold",
                                     description="One incremental silver → gold run: recompute the event dates "
                                                 "silver changed since the last run.")
    parser.add_argument("--full", action="store_true", help="recompute every date, ignoring recorded progress")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    run(settings, full=args.full)
    return 0


if __name__ == "__main__":
    run_cli(main)
