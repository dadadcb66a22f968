"""Silver → gold: one incremental run that recomputes exactly the event dates silver commits touched.

    python -m consumer.gold [--full]

Each gold table records the silver (and quarantine) version it consumed in the same commit as its rows
(app_id `gold:<table>`). A run reads the silver commits since that version to find the event hours they touched,
recomputes those hours from silver (reading only the files that overlap them) into the hourly partial tables,
telemetry_1min and alerts, then rolls the touched dates of the daily tables up from the hourly partials. Every
table is replaced hour-by-hour or date-by-date in one atomic commit. A killed run leaves each table at its last
commit; the next run redoes what is missing. Run by hand it holds the ETL lease (lake/lease.py): refused while a
scheduler holds it.
"""

from __future__ import annotations

import argparse
import logging
import time as timer
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from deltalake import DeltaTable

from common.cli import setup_logging
from common.clock import Clock, SystemClock
from config.settings import Settings
from consumer.gold import rollups as gr
from consumer.gold import storage as gold_io
from consumer.gold import transforms as gt
from consumer.gold.health import device_health_metrics
from lake import delta_io, tables
from lake.devices import load_catalog
from lake.lease import run_holding

logger = logging.getLogger(__name__)

HOURLY_TABLES = ("device_hourly", "quality_hourly", "telemetry_1min", "alerts")
DAILY_TABLES = (
    "daily_energy_consumption",
    "daily_home_summary",
    "daily_business_summary",
    "data_quality_daily",
    "monthly_billing",
)
DATE_TABLES = HOURLY_TABLES + DAILY_TABLES
SILVER, QUARANTINE = tables.SILVER.key, tables.QUARANTINE.key
QUARANTINE_TABLES = tuple(t.name for t in tables.all_tables("gold") if QUARANTINE in t.markers)

Touched = dict[date, set[int]]
# a run recomputes its touched dates in batches of about this many silver rows (whole dates), so its memory is
# bounded by the batch, not by how much silver changed (a full recompute reads all of it)
BATCH_ROWS = 1_000_000


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _gold_table(name: str) -> tables.Table:
    return tables.get(f"gold/{name}")


@dataclass(frozen=True, kw_only=True)
class GoldRunResult:
    """What one gold run consumed and wrote."""

    silver_version: int | None
    quarantine_version: int | None = None
    dates: tuple[date, ...] = ()
    hours: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _behind(
    settings: Settings, silver_version: int, quarantine_version: int | None, *, full: bool
) -> dict[str, tuple[int | None, int | None]]:
    """Tables whose recorded versions lag the sources, with what they recorded (None: recompute everything)."""
    behind = {}
    for table in DATE_TABLES:
        counts_quarantine = table in QUARANTINE_TABLES
        s = None if full else gold_io.consumed(settings, _gold_table(table))
        q = None if full or not counts_quarantine else gold_io.consumed(settings, _gold_table(table), tables.QUARANTINE)
        if s != silver_version or (counts_quarantine and quarantine_version is not None and q != quarantine_version):
            behind[table] = (s, q)
    return behind


def shift_hours(touched: Touched, offsets: tuple[int, ...]) -> Touched:
    """The touched hours moved by each of `offsets` hours (e.g. (0, 1): each hour and the next), merged."""
    shifted: Touched = {}
    for start in gold_io.hour_starts(touched):
        for offset in offsets:
            hour = start + timedelta(hours=offset)
            shifted.setdefault(hour.date(), set()).add(hour.hour)
    return shifted


def newest_date(silver: DeltaTable) -> date | None:
    """Silver's newest event date, from its log (no data read); None when it holds no file."""
    actions = delta_io.add_actions(silver)
    if "partition.event_date" not in actions.columns:
        return None
    return actions.get_column("partition.event_date").cast(pl.Date).max()  # type: ignore[return-value]


def _oldest(versions: list[int | None]) -> int | None:
    return None if None in versions else min(v for v in versions if v is not None)


def _touched(
    settings: Settings,
    silver: DeltaTable,
    quarantine: DeltaTable | None,
    behind: dict[str, tuple[int | None, int | None]],
) -> Touched:
    """Event date → hours to recompute from silver; a date with no hours (quarantine changes) is only rolled up."""
    if not behind:
        return {}
    touched = gold_io.touched_hours(
        silver,
        tables.SILVER.path(settings),
        partition="event_date",
        time_column="event_time",
        since=_oldest([s for s, _ in behind.values()]),
    )
    lagging_q = [q for t, (_, q) in behind.items() if t in QUARANTINE_TABLES]
    if quarantine is not None and lagging_q:
        for day in gold_io.touched_hours(
            quarantine,
            tables.QUARANTINE.path(settings),
            partition="quarantine_date",
            time_column=None,
            since=_oldest(lagging_q),
        ):
            touched.setdefault(day, set())
    return touched


class GoldRun:
    """One run's state: the source snapshots, their versions, the lagging tables and what they need."""

    def __init__(self, settings: Settings, silver: DeltaTable, now: datetime, *, full: bool) -> None:
        self.settings, self.silver, self.now, self.full = settings, silver, now, full
        self.quarantine = delta_io.open_table(tables.QUARANTINE.path(settings))
        self.versions = {SILVER: silver.version()} | (
            {QUARANTINE: self.quarantine.version()} if self.quarantine is not None else {}
        )
        self.params = gt.GoldParams.from_settings(settings)
        self.behind = _behind(settings, silver.version(), self.versions.get(QUARANTINE), full=full)
        self.touched = _touched(settings, silver, self.quarantine, self.behind)
        self.minutes = gold_io.touched_minutes(
            silver, tables.SILVER.path(settings), since=self.behind.get("telemetry_1min", (None, None))[0]
        )
        self.newest_date = newest_date(silver) or now.date()
        self.written: dict[str, int] = {}
        self.record = True

    def batches(self) -> list[Touched]:
        """The touched dates split, in date order, into batches of about BATCH_ROWS silver rows (at least one date,
        and at least one batch, so a run with nothing touched still records the versions)."""
        actions = delta_io.add_actions(self.silver)
        sizes: dict[date, int] = {}
        if "partition.event_date" in actions.columns:
            per_date = actions.group_by(pl.col("partition.event_date").cast(pl.Date)).agg(pl.col("num_records").sum())
            sizes = dict(per_date.iter_rows())
        batches: list[Touched] = [{}]
        rows = 0
        for day in sorted(self.touched):
            if batches[-1] and rows + sizes.get(day, 0) > BATCH_ROWS:
                batches.append({})
                rows = 0
            batches[-1][day] = self.touched[day]
            rows += sizes.get(day, 0)
        return batches

    def write(self, table: str, frame: pl.DataFrame, predicate: str | None, *, always: bool = False) -> None:
        """Replace `predicate`'s rows of gold `table`, recording the versions of the sources it is computed from
        (only with the run's last batch: a run killed between batches leaves the versions unrecorded, and the
        next run recomputes every touched date again)."""
        target = _gold_table(table)
        versions = {source: v for source, v in self.versions.items() if source in target.markers}
        gold_io.replace(
            self.settings,
            target,
            frame,
            predicate=predicate,
            versions=versions,
            always=always or self.full or not self.record,
            record=self.record,
        )
        self.written[table] = self.written.get(table, 0) + frame.height

    def recompute(self) -> None:
        """The hourly and daily tables, batch by batch, then monthly_billing over every touched date."""
        batches = self.batches()
        for i, batch in enumerate(batches):
            self.record = i == len(batches) - 1
            self.hourly(batch)
            self.daily(batch)
        self.record = True
        if "monthly_billing" in self.behind:
            self.billing(set(self.touched) | set(shift_hours(self.touched, (0, 1))))

    def hourly(self, touched: Touched) -> None:
        """Recompute the touched hours of the lagging hourly tables from silver (none: just record the version).

        device_hourly and alerts also recompute the hour after each touched hour (its readings' anomaly baselines
        are the touched hour), from silver that includes the hour before (the touched hour's baselines).
        """
        if not any(t in self.behind for t in HOURLY_TABLES):
            return
        hours = {d: h for d, h in touched.items() if h}
        assessed = shift_hours(hours, (0, 1))
        context = gold_io.read_hours(
            self.silver, tables.SILVER.path(self.settings), shift_hours(hours, (-1, 0, 1)), gold_io.SILVER_COLUMNS
        )
        rows = context.filter(pl.col("event_time").dt.truncate("1h").is_in(gold_io.hour_starts(hours)))
        readings = gt.assess(context, self.params, hours=gold_io.hour_starts(assessed))
        minutes, minutes_predicate = self.minute_rows(rows, hours)
        frames = {
            "device_hourly": (lambda: gt.device_hourly(readings), gold_io.hours_predicate("hour", assessed)),
            "quality_hourly": (lambda: gt.quality_hourly(rows), gold_io.hours_predicate("hour", hours)),
            "telemetry_1min": (lambda: gt.telemetry_1min(minutes), minutes_predicate),
            "alerts": (lambda: gt.alerts(readings), gold_io.hours_predicate("alert_time", assessed)),
        }
        for table, (compute, predicate) in frames.items():
            if table in self.behind:
                self.write(table, compute(), predicate)

    def minute_rows(self, rows: pl.DataFrame, hours: Touched) -> tuple[pl.DataFrame, str]:
        """The silver rows telemetry_1min is recomputed from, and the predicate of the minute rows they replace:
        the touched hours within the retention, each whole or (when silver changed only part of it) only its
        changed minutes, and every date before the retention."""
        cutoff = self.retention_cutoff()
        starts = [start for start in gold_io.hour_starts(hours) if start.date() >= cutoff]
        spans = {start: self.minutes[start] for start in starts if start in self.minutes}
        whole = {d: set(h) for d, h in hours.items() if d >= cutoff}
        for start in spans:
            whole[start.date()].discard(start.hour)
        kept = pl.col("event_time").dt.truncate("1h").is_in(gold_io.hour_starts(whole))
        for first, end in spans.values():
            kept |= pl.col("event_time").is_between(first, end, closed="left")
        parts = [gold_io.hour_partitions_predicate(whole)] + ([gold_io.minutes_predicate(spans)] if spans else [])
        return rows.filter(kept), f"{' OR '.join(f'({p})' for p in parts)} OR date < '{cutoff.isoformat()}'"

    def retention_cutoff(self) -> date:
        """Oldest date telemetry_1min keeps: TELEMETRY_1MIN_RETENTION_DAYS before silver's newest event date."""
        return self.newest_date - timedelta(days=self.settings.telemetry_1min_retention_days)

    def daily(self, touched: Touched) -> None:
        """Roll the touched dates (and those of the hours after them) up from the hourly partials and quarantine."""
        dates = set(touched) | set(shift_hours({d: h for d, h in touched.items() if h}, (0, 1)))
        if not any(t in self.behind for t in DAILY_TABLES):
            return
        by_date = gold_io.date_predicate("date", dates)
        hourly = gold_io.read_dates(self._gold("device_hourly"), "date", dates, tables.DEVICE_HOURLY.schema)
        days = gr.device_days(hourly)
        rejected = gold_io.read_dates(self.quarantine, "quarantine_date", dates, gold_io.QUARANTINE_TYPES)
        frames = {
            "daily_energy_consumption": lambda: gr.daily_energy_consumption(days, self.params),
            "daily_home_summary": lambda: gr.daily_home_summary(days, self.params),
            "daily_business_summary": lambda: gr.daily_business_summary(
                days, gr.quarantined_per_day(rejected), self.params
            ),
            "data_quality_daily": lambda: gr.data_quality_daily(
                gold_io.read_dates(self._gold("quality_hourly"), "date", dates, tables.QUALITY_HOURLY.schema), rejected
            ),
        }
        for table, compute in frames.items():
            if table in self.behind:
                self.write(table, compute(), by_date)

    def billing(self, dates: set[date]) -> None:
        """monthly_billing for the months of `dates`, from the exact µWh of gold device_hourly."""
        months = {d.replace(day=1) for d in dates}
        days = {m + timedelta(days=i) for m in months for i in range(31) if (m + timedelta(days=i)).month == m.month}
        hourly = gold_io.read_dates(
            self._gold("device_hourly"),
            "date",
            days,
            {c: tables.DEVICE_HOURLY.schema[c] for c in ("date", "home_id", "energy_uwh")},
        )
        self.write("monthly_billing", gr.monthly_billing(hourly, self.params), gold_io.date_predicate("month", months))

    def health(self) -> None:
        """device_health_metrics over the HEALTH_WINDOW_HOURS before the fleet's newest reading; every run."""
        newest = min(self.now, datetime.combine(self.newest_date, time.max, UTC))
        start = newest - timedelta(hours=self.settings.health_window_hours)
        dates = {start.date() + timedelta(days=i) for i in range((newest.date() - start.date()).days + 1)}
        hourly = gold_io.read_dates(self._gold("device_hourly"), "date", dates, tables.DEVICE_HOURLY.schema)
        frame = device_health_metrics(
            hourly,
            load_catalog(self.settings),
            self.params,
            now=self.now,
            window=timedelta(hours=self.settings.health_window_hours),
        )
        self.write("device_health_metrics", frame, None, always=True)

    def _gold(self, table: str) -> DeltaTable | None:
        return delta_io.open_table(_gold_table(table).path(self.settings))


def run(settings: Settings, *, clock: Clock | None = None, full: bool = False) -> GoldRunResult:
    """One incremental gold run (`full`: recompute everything); returns what it consumed and wrote."""
    started = timer.perf_counter()
    now = (clock or SystemClock()).now()
    silver = delta_io.open_table(tables.SILVER.path(settings))
    if silver is None:
        logger.debug("gold: no silver table at %s yet; nothing to do", tables.SILVER.path(settings))
        return GoldRunResult(silver_version=None)
    state = GoldRun(settings, silver, now, full=full)
    state.recompute()
    state.health()
    result = GoldRunResult(
        silver_version=silver.version(),
        quarantine_version=state.versions.get(QUARANTINE),
        dates=tuple(sorted(state.touched)),
        hours=sum(map(len, state.touched.values())),
        rows=state.written,
        seconds=timer.perf_counter() - started,
    )
    rows = sum(state.written.values())
    log = logger.info if state.behind else logger.debug  # a run with nothing new only refreshes device health
    log(
        "gold: silver version %d: recomputed %d %s over %d %s, %d rows written in %.2fs (%.0f rows/s)",
        result.silver_version,
        result.hours,
        _plural(result.hours, "hour"),
        len(result.dates),
        _plural(len(result.dates), "date"),
        rows,
        result.seconds,
        rows / max(result.seconds, 1e-9),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.gold",
        description="One incremental silver → gold run: recompute the event dates silver changed since the last run.",
    )
    parser.add_argument("--full", action="store_true", help="recompute every date, ignoring recorded progress")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    run_holding(settings, lambda: run(settings, full=args.full))
    return 0
