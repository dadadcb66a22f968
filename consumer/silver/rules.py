"""Silver's data-quality rules, in one table: name, action, what it checks, and the polars expression.

Each expression is True for a row that passes. `quarantine` rules send the row to silver/quarantine with the
names of every quarantine rule it failed; `warn` rules keep it and record their names in `warnings`, and
lower its quality_score. Rules read the checked frame built by `silver_transforms.checked_events`: the event
fields of schema v1, `parse_error`, `event_time` (parsed timestamp), `ingested_at`, and the catalog's view of
the device (`catalog_home_id`, `catalog_device_type`, null for an unknown device).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from typing import Literal

import polars as pl

from common.events import ALERTS, METRICS, REQUIRED_FIELDS, STATUSES, SUPPORTED_SCHEMA_VERSIONS
from config.catalog import DeviceType, device_types
from config.settings import Settings

Action = Literal["warn", "quarantine"]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@dataclass(frozen=True)
class Rule:
    """One data-quality rule."""

    name: str
    action: Action
    description: str
    passes: pl.Expr


def rules(settings: Settings) -> tuple[Rule, ...]:
    """Every rule, in the order their names are reported."""
    parsed, c = pl.col("parse_error").is_null(), pl.col
    types = device_types()
    skew, late = timedelta(seconds=settings.max_future_skew_s), timedelta(seconds=settings.late_event_threshold_s)
    return (
        Rule("valid_utf8", "quarantine", "the value is UTF-8 text", c("parse_error").ne_missing("valid_utf8")),
        Rule("valid_json", "quarantine", "the value is one JSON object", c("parse_error").ne_missing("valid_json")),
        Rule(
            "field_types",
            "quarantine",
            "every schema field present has its type (string, integer, number, bool)",
            c("parse_error").ne_missing("field_types"),
        ),
        Rule(
            "supported_schema_version",
            "quarantine",
            f"schema_version is one of {SUPPORTED_SCHEMA_VERSIONS}",
            ~parsed | c("schema_version").is_in(SUPPORTED_SCHEMA_VERSIONS).fill_null(False),
        ),
        Rule(
            "required_fields",
            "quarantine",
            f"{', '.join(REQUIRED_FIELDS)} are present",
            ~parsed | pl.all_horizontal(c(name).is_not_null() for name in REQUIRED_FIELDS),
        ),
        Rule(
            "timestamp_parses",
            "quarantine",
            "timestamp is ISO-8601 with a UTC offset or Z",
            ~parsed | c("timestamp").is_null() | c("event_time").is_not_null(),
        ),
        Rule(
            "not_in_future",
            "quarantine",
            f"event time is at most {settings.max_future_skew_s:g}s after ingestion",
            ~parsed | (c("event_time") <= c("ingested_at") + skew).fill_null(True),
        ),
        Rule(
            "known_device",
            "quarantine",
            "device_id is in the device catalog",
            ~parsed | c("device_id").is_null() | c("catalog_device_type").is_not_null(),
        ),
        Rule(
            "matches_catalog",
            "quarantine",
            "home_id and device_type agree with the catalog",
            ~parsed
            | c("catalog_device_type").is_null()
            | ((c("home_id") == c("catalog_home_id")) & (c("device_type") == c("catalog_device_type"))).fill_null(True),
        ),
        Rule(
            "valid_status",
            "quarantine",
            f"status is one of {', '.join(STATUSES)}",
            ~parsed | c("status").is_null() | c("status").is_in(STATUSES),
        ),
        Rule("seq_non_negative", "quarantine", "seq ≥ 0", ~parsed | (c("seq") >= 0).fill_null(True)),
        Rule(
            "value_in_range",
            "quarantine",
            "every metric lies in its device type's range (config/device_types.toml)",
            ~parsed | _all_types(types, _in_range),
        ),
        # Decided across arrivals by transforms.classify_arrivals (after the rules above): no row check of its own.
        Rule(
            "consistent_event_id",
            "quarantine",
            "an event_id that arrived before (earlier in bronze, or in "
            "silver) carries the same reading; a different reading under it is a conflict",
            pl.lit(True),
        ),
        Rule(
            "known_alert",
            "warn",
            f"alert is null or one of {', '.join(ALERTS)}",
            c("alert").is_null() | c("alert").is_in(ALERTS),
        ),
        Rule(
            "event_id_is_uuid", "warn", "event_id is a UUID", c("event_id").str.contains(UUID_PATTERN).fill_null(True)
        ),
        Rule(
            "expected_metrics",
            "warn",
            "an online device sends every metric its type measures",
            c("status").ne_missing("online") | _all_types(types, _has_metrics),
        ),
        Rule(
            "no_foreign_metrics",
            "warn",
            "no metric its type does not measure",
            _all_types(types, _lacks_foreign_metrics),
        ),
        Rule(
            "on_time",
            "warn",
            f"ingested at most {settings.late_event_threshold_s:g}s after the event time",
            (c("ingested_at") - c("event_time") <= late).fill_null(True),
        ),
    )


def _all_types(types: dict[str, DeviceType], check: Callable[[DeviceType], pl.Expr]) -> pl.Expr:
    """True where the row's device type passes `check(type)` (rows of other or unknown types pass)."""
    per_type = [pl.col("device_type").ne_missing(name) | check(spec) for name, spec in types.items()]
    return reduce(lambda a, b: a & b, per_type).fill_null(True)


def _in_range(spec: DeviceType) -> pl.Expr:
    checks = [pl.col(metric).is_null() | pl.col(metric).is_between(lo, hi) for metric, (lo, hi) in spec.ranges.items()]
    return pl.all_horizontal(checks) if checks else pl.lit(True)


def _has_metrics(spec: DeviceType) -> pl.Expr:
    return pl.all_horizontal(pl.col(metric).is_not_null() for metric in spec.metrics)


def _lacks_foreign_metrics(spec: DeviceType) -> pl.Expr:
    foreign = [pl.col(metric).is_null() for metric in METRICS if metric not in spec.metrics]
    return pl.all_horizontal(foreign) if foreign else pl.lit(True)


def rules_frame(settings: Settings) -> pl.DataFrame:
    """The rules as a table a reader (or the dashboard) can review: name, action, description."""
    return pl.DataFrame(
        [(r.name, r.action, r.description) for r in rules(settings)],
        schema={"rule": pl.String, "action": pl.String, "description": pl.String},
        orient="row",
    )
