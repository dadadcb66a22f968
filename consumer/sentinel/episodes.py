"""Threshold episodes, as a pure function of a batch of readings and the carried state (polars, no per-event Python).

For every watched kind (config/alert_rules.SENTINEL_KINDS) a reading is *offending* when the kind's check fires
(the device's own flag or its type's limit from config/device_types.toml: the same expressions gold uses). Per
(device, kind), in event-time order, a run of offending readings is a *condition*:

- it **opens** an episode at its first reading at least `hold_s` after the run's first reading (a blip shorter than
  the hold never opens one); the episode starts at the run's first reading;
- it **updates** the open episode at the first reading of each further `update_every_s` of event time since the
  start (value now, peak so far);
- it **resolves** at the first reading that no longer offends.

Everything is decided on event times and per-device order only, so any batching of the same readings (a replay, a
restart that re-reads from a snapshot) yields the same changes with the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from config.alert_rules import SENTINEL_KINDS, threshold_checks, with_limits
from config.settings import Settings
from consumer.sentinel.changes import CHANGE_COLUMNS, with_ids
from lake.tables import UTC_TS

KEY = ("device_id", "kind")
LOW_KINDS = ("low_temperature",)  # kinds whose extreme is the lowest value
CONDITION_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "kind": pl.String(),
    "home_id": pl.String(),
    "device_type": pl.String(),
    "run_start": UTC_TS,
    "opened": pl.Boolean(),
    "peak": pl.Float64(),
    "last_bucket": pl.Int64(),
}


@dataclass(frozen=True, kw_only=True)
class Rules:
    """How long a condition must hold, how often an open episode updates, and when a device is silent."""

    hold_s: float = 5.0
    update_every_s: float = 60.0
    silent_after_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            hold_s=settings.sentinel_hold_s,
            update_every_s=settings.sentinel_update_every_s,
            silent_after_s=settings.sentinel_silence_factor * settings.sentinel_expected_interval_s,
        )


def empty_conditions() -> pl.DataFrame:
    return pl.DataFrame(schema=CONDITION_SCHEMA)


def assess(events: pl.DataFrame, carried: pl.DataFrame) -> pl.DataFrame:
    """One row per reading × watched kind, only for keys that offend in this batch or carry a condition.

    The checks run once over the batch; only the readings of devices that offend or carry a condition (a few, in
    normal operation) are then spread out per kind."""
    checks = [check for check in threshold_checks() if check.kind in SENTINEL_KINDS]
    fired = [f"fired_{check.kind}" for check in checks]
    flags = (check.fired.fill_null(False).alias(name) for check, name in zip(checks, fired, strict=True))
    hot = (
        with_limits(events.lazy())
        .with_columns(*flags)
        .filter(
            pl.any_horizontal(fired).any().over("device_id") | pl.col("device_id").is_in(carried["device_id"].implode())
        )
    )
    long = pl.concat(
        [
            hot.select(
                "device_id",
                "home_id",
                "device_type",
                "event_time",
                "event_id",
                kind=pl.lit(check.kind),
                fired=flag,
                value=check.value.cast(pl.Float64),
                threshold=check.threshold.cast(pl.Float64),
            )
            for check, flag in zip(checks, fired, strict=True)
        ]
    )
    carried_keys = carried.lazy().select(*KEY, carried=pl.lit(True))
    return (
        long.join(carried_keys, on=list(KEY), how="left")
        .filter(pl.col("fired").any().over(KEY) | pl.col("carried").is_not_null())
        .drop("carried")
        .sort(*KEY, "event_time", "event_id")
        .collect()
    )


def step(events: pl.DataFrame, carried: pl.DataFrame, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The episode changes the batch causes (CHANGE_COLUMNS, with ids) and the conditions carried to the next."""
    rows = assess(events, carried)
    if rows.is_empty():
        return with_ids(pl.DataFrame(schema=CHANGE_COLUMNS)), carried
    rows = _runs(rows, carried, rules)
    opens = rows.filter(pl.col("opens")).select(*_change("open"), value=pl.col("value"))
    updates = rows.filter(pl.col("updates")).select(*_change("update"), value=pl.col("value"))
    resolves = rows.filter(pl.col("resolves")).select(
        "device_id",
        "kind",
        "home_id",
        "device_type",
        change=pl.lit("resolve"),
        started_at=pl.col("prev_start"),
        changed_at=pl.col("event_time"),
        resolved_at=pl.col("event_time"),
        value=pl.col("value"),
        peak=pl.col("prev_peak"),
        threshold=pl.col("prev_threshold"),
        event_id="event_id",
        bucket=pl.lit(None, pl.Int64),
    )
    changes = pl.concat(
        [
            opens.select(list(CHANGE_COLUMNS)),
            updates.select(list(CHANGE_COLUMNS)),
            resolves.select(list(CHANGE_COLUMNS)),
        ]
    ).cast(CHANGE_COLUMNS)
    untouched = carried.join(rows.select(KEY).unique(), on=list(KEY), how="anti")  # no reading in this batch
    return with_ids(changes.sort("changed_at", "device_id", "kind")), pl.concat([untouched, _carry(rows)]).sort(KEY)


def _change(change: str) -> list[pl.Expr]:
    return [
        pl.col("device_id"),
        pl.col("kind"),
        pl.col("home_id"),
        pl.col("device_type"),
        pl.lit(change).alias("change"),
        pl.col("start").alias("started_at"),
        pl.col("event_time").alias("changed_at"),
        pl.lit(None, UTC_TS).alias("resolved_at"),
        pl.col("peak"),
        pl.col("threshold"),
        pl.col("event_id"),
        pl.col("bucket"),
    ]


def _runs(rows: pl.DataFrame, carried: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Rows with their run, its start, peak so far, bucket, and the flags opens / updates / resolves."""
    state = carried.select(*KEY, s_start="run_start", s_opened="opened", s_peak="peak", s_bucket="last_bucket")
    fired, time = pl.col("fired"), pl.col("event_time")
    run = (fired != fired.shift(1)).fill_null(True).cum_sum().over(KEY)
    rows = rows.join(state, on=list(KEY), how="left").with_columns(run=run)
    carry = (pl.col("run") == 1) & fired & pl.col("s_start").is_not_null()
    sign = pl.when(pl.col("kind").is_in(LOW_KINDS)).then(-1.0).otherwise(1.0)
    signed = (
        pl.when(carry)
        .then(pl.max_horizontal(pl.col("value") * sign, pl.col("s_peak") * sign))
        .otherwise(pl.col("value") * sign)
    )
    rows = rows.with_columns(
        carry=carry,
        start=pl.when(carry).then(pl.col("s_start")).otherwise(time.min().over(*KEY, "run")),
        peak=signed.cum_max().over(*KEY, "run") * sign,
        opened_before=(carry & pl.col("s_opened")).fill_null(False),
        prior_bucket=pl.when(carry).then(pl.col("s_bucket")).otherwise(-1),
    )
    hold = timedelta(seconds=rules.hold_s)
    confirmed = fired & (time >= pl.col("start") + hold)
    rows = rows.with_columns(
        opens=confirmed & ~pl.col("opened_before") & (confirmed.cast(pl.Int32).cum_sum().over(*KEY, "run") == 1),
        bucket=((time - pl.col("start")).dt.total_microseconds() // int(rules.update_every_s * 1e6)).cast(pl.Int64),
    )
    is_open = pl.col("opened_before") | pl.col("opens").cast(pl.Int32).cum_sum().over(*KEY, "run").cast(pl.Boolean)
    first_of_bucket = pl.col("bucket") != pl.col("bucket").shift(1).over(*KEY, "run")
    rows = rows.with_columns(is_open=is_open & fired).with_columns(
        updates=pl.col("is_open")
        & ~pl.col("opens")
        & (pl.col("bucket") >= 1)
        & (pl.col("bucket") > pl.col("prior_bucket"))
        & first_of_bucket.fill_null(True)
    )
    return _resolves(rows)


def _resolves(rows: pl.DataFrame) -> pl.DataFrame:
    """Flag the first reading of each non-offending run that follows an open episode (this batch's or carried)."""
    runs = rows.group_by(*KEY, "run").agg(
        was_open=pl.col("is_open").any(),
        run_start=pl.col("start").first(),
        last_peak=pl.col("peak").last(),
        last_threshold=pl.col("threshold").last(),
        s_opened=pl.col("s_opened").first(),
        s_start=pl.col("s_start").first(),
        s_peak=pl.col("s_peak").first(),
    )
    runs = runs.sort(*KEY, "run").with_columns(
        prev_open=pl.col("was_open").shift(1).over(KEY),
        prev_start=pl.col("run_start").shift(1).over(KEY),
        prev_peak=pl.col("last_peak").shift(1).over(KEY),
        prev_threshold=pl.col("last_threshold").shift(1).over(KEY),
    )
    first = pl.col("run") == 1
    runs = runs.select(
        *KEY,
        "run",
        "was_open",
        prev_open=pl.when(first).then(pl.col("s_opened").fill_null(False)).otherwise("prev_open"),
        prev_start=pl.when(first).then("s_start").otherwise("prev_start"),
        prev_peak=pl.when(first).then("s_peak").otherwise("prev_peak"),
        prev_threshold="prev_threshold",
    )
    rows = rows.join(runs, on=[*KEY, "run"], how="left")
    first_row = pl.col("run") != pl.col("run").shift(1).over(KEY)
    return rows.with_columns(
        resolves=~pl.col("fired") & first_row.fill_null(True) & pl.col("prev_open"),
        prev_threshold=pl.col("prev_threshold").fill_null(pl.col("threshold")),
    )


def _carry(rows: pl.DataFrame) -> pl.DataFrame:
    """The conditions still running after the batch: each key's last run, when it offends."""
    last = rows.filter(pl.col("run") == pl.col("run").max().over(KEY)).filter(pl.col("fired"))
    return (
        last.group_by(KEY)
        .agg(
            pl.col("home_id").last(),
            pl.col("device_type").last(),
            run_start=pl.col("start").first(),
            opened=pl.col("was_open").first(),
            peak=pl.col("peak").last(),
            last_bucket=pl.max_horizontal(pl.col("bucket").max(), pl.col("prior_bucket").first()),
        )
        .select(list(CONDITION_SCHEMA))
        .cast(CONDITION_SCHEMA)
    )
