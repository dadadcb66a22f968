"""The replay mapping (TOML): which CSV column feeds which event field, read and checked before any row is read.

Every field of a device (id, type, home, location, ...) is either a fixed value or `{ column = "...",
values = { "csv value" = "mapped value" } }`, so one mapping replays a multi-device, multi-type file. Metrics
map per device type; energy is recorded (per interval or a cumulative meter) or integrated from power. The
format is documented with a full example in docs/producer.md; config/replay/iot_env_telemetry.toml is one.
"""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from common.events import ALERTS, BOOL_METRICS, METRICS, STATUSES
from config.catalog import device_types
from config.errors import ConfigError

DEVICE_FIELDS = (
    "device_type",
    "home_id",
    "home_name",
    "location",
    "latitude",
    "longitude",
    "manufacturer",
    "model",
    "installation_date",
)
REQUIRED_FIELDS = ("device_type", "home_id")
TIME_FORMATS = ("epoch_s", "epoch_ms", "epoch_us", "iso")
ENERGY_KINDS = ("interval", "cumulative")
MISSING = ("", "?", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "NaN", "nan", "-")


@dataclass(frozen=True)
class Source:
    """A value taken from `column` (through `values`, CSV text → value) or, without a column, the fixed `value`."""

    column: str | None = None
    value: Any = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricMap:
    """A metric read from `column`: value × scale + offset (numbers); energy_wh also has its kind."""

    column: str
    scale: float = 1.0
    offset: float = 0.0
    kind: str = "interval"


@dataclass(frozen=True)
class ReplayConfig:
    """How a CSV's rows become events; `metrics` per device type (the types this file's rows can have)."""

    path: Path
    time_column: str
    time_format: str
    timezone: str
    device_id: Source
    fields: dict[str, Source]
    metrics: dict[str, dict[str, MetricMap]]
    status: Source
    alert: Source
    missing: tuple[str, ...]
    delimiter: str
    decimal_comma: bool
    encoding: str
    joined: dict[str, tuple[tuple[str, ...], str]]  # a column made of CSV columns: (its parts, separator)

    def columns(self) -> set[str]:
        """Every CSV column the mapping reads."""
        sources = [self.device_id, self.status, self.alert, *self.fields.values()]
        metrics = {m.column for per in self.metrics.values() for m in per.values()}
        named = {s.column for s in sources if s.column} | metrics | {self.time_column}
        return {part for c in named for part in (self.joined[c][0] if c in self.joined else (c,))}


def load_config(path: Path) -> ReplayConfig:
    """Read and check a replay mapping; a ConfigError names the file, the key and what was expected."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"replay config {path} cannot be read ({_one_line(exc)})") from None
    try:
        return _parse(path, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"replay config {path}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _table(raw: dict, key: str, *, required: bool = True) -> dict:
    value = raw.get(key, {} if not required else None)
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] is missing or not a table" if value is None else f"{key} must be a table")
    return value


def _parse(path: Path, raw: dict) -> ReplayConfig:
    if unknown := set(raw) - {"time", "device", "metrics", "status", "alert", "file"}:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; expected time, device, metrics, status, alert, file")
    device = dict(_table(raw, "device"))
    joined: dict[str, tuple[tuple[str, ...], str]] = {}
    if unknown := set(device) - set(DEVICE_FIELDS) - {"column", "id", "ids"}:
        raise ValueError(
            f"device.{sorted(unknown)[0]} is not a device field; expected column or id, ids, {', '.join(DEVICE_FIELDS)}"
        )
    fields = {name: _source(f"device.{name}", device[name]) for name in DEVICE_FIELDS if name in device}
    if missing := [name for name in REQUIRED_FIELDS if name not in fields]:
        raise ValueError(f'device needs {" and ".join(missing)} (a value or {{ column = "..." }})')
    time = _table(raw, "time")
    return ReplayConfig(
        path=path,
        time_column=_joined(time.get("column"), "time.column", " ", joined),
        **_time(time),
        device_id=_device_id(device, joined),
        fields=fields,
        metrics=_metrics(_table(raw, "metrics"), _device_types(fields["device_type"])),
        status=_labels("status", _table(raw, "status", required=False), STATUSES, default="online"),
        alert=_labels("alert", _table(raw, "alert", required=False), ALERTS, default=None),
        **_file(_table(raw, "file", required=False)),
        joined=joined,
    )


def _time(time: dict) -> dict[str, str]:
    time_format = str(time.get("format", "iso"))
    if time_format not in TIME_FORMATS and "%" not in time_format:
        raise ValueError(
            f"time.format {time_format!r}: expected one of {', '.join(TIME_FORMATS)} or a strftime "
            'format such as "%Y-%m-%d %H:%M:%S"'
        )
    timezone = str(time.get("timezone", "UTC"))
    if timezone != "UTC" and timezone not in available_timezones():
        raise ValueError(f'time.timezone {timezone!r} is not an IANA time zone such as "Europe/Berlin"')
    return {"time_format": time_format, "timezone": timezone}


def _file(file: dict) -> dict[str, Any]:
    missing = file.get("missing", list(MISSING))
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise ValueError('file.missing must be a list of strings such as ["", "?", "NA"]')
    delimiter = file.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"file.delimiter must be one character, got {delimiter!r}")
    encoding = str(file.get("encoding", "utf-8"))
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f'file.encoding {encoding!r} is not a text encoding such as "utf-8" or "latin-1"') from None
    return {
        "missing": tuple(missing),
        "delimiter": delimiter,
        "encoding": encoding,
        "decimal_comma": bool(file.get("decimal_comma", False)),
    }


def _text(table: dict, key: str, section: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{section}.{key} must name a CSV column")
    return value


def _joined(value: Any, name: str, separator: str, joined: dict[str, tuple[tuple[str, ...], str]]) -> str:
    """A column name, or a list of columns read joined by `separator` (registered in `joined` under one name)."""
    if isinstance(value, str) and value:
        return value
    if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
        raise ValueError(f"{name} must name a CSV column, or a list of columns read joined by {separator!r}")
    joined[" + ".join(value)] = (tuple(value), separator)
    return " + ".join(value)


def _source(name: str, spec: Any) -> Source:
    if not isinstance(spec, dict):
        return Source(value=_literal(name, spec))
    if unknown := set(spec) - {"column", "values"}:
        raise ValueError(f"{name}: unknown key(s) {sorted(unknown)}; expected column and values")
    values = spec.get("values", {})
    if not isinstance(values, dict):
        raise ValueError(f"{name}.values must be a table of CSV value = mapped value")
    return Source(column=_text(spec, "column", name), values=dict(values))


def _literal(name: str, value: Any) -> Any:
    """A fixed field value, checked: a number for latitude and longitude, a date for installation_date."""
    field_name = name.rsplit(".", 1)[-1]
    if field_name in ("latitude", "longitude"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if field_name == "installation_date":
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None
    if isinstance(value, dict | list):
        raise ValueError(f'{name} must be a value or {{ column = "..." }}, got {value!r}')
    return str(value)


def _device_id(device: dict, joined: dict[str, tuple[tuple[str, ...], str]]) -> Source:
    column, fixed, ids = device.get("column"), device.get("id"), device.get("ids", {})
    if (column is None) == (fixed is None):
        raise ValueError("set exactly one of device.column (a CSV column) and device.id (one fixed device id)")
    if not isinstance(ids, dict) or not all(isinstance(v, str) and v for v in ids.values()):
        raise ValueError("device.ids must map CSV values to device ids (strings)")
    if column is not None:
        return Source(column=_joined(column, "device.column", "_", joined), values=dict(ids))
    if not isinstance(fixed, str) or not fixed:
        raise ValueError("device.id must be a non-empty string")
    return Source(value=fixed)


def _device_types(source: Source) -> list[str]:
    """The device types rows can have; every one must be known."""
    known = device_types()
    named = list(source.values.values()) if source.column else [source.value]
    if bad := [t for t in named if t not in known]:
        raise ValueError(f"device.device_type {bad[0]!r} is not a device type; expected one of {', '.join(known)}")
    return sorted(known) if source.column else named


def _metrics(raw: dict, types: list[str]) -> dict[str, dict[str, MetricMap]]:
    """Per device type, its metric mappings: the shared ones it measures, overridden by its own [metrics.<type>]."""
    known = device_types()
    shared = {m: _metric(f"metrics.{m}", m, spec) for m, spec in raw.items() if m in METRICS}
    own = {t: spec for t, spec in raw.items() if t in known}
    if unknown := set(raw) - set(shared) - set(own):
        raise ValueError(
            f"[metrics] {sorted(unknown)[0]!r} is neither a metric ({', '.join(METRICS)}) nor a device type"
        )
    mapped: dict[str, dict[str, MetricMap]] = {}
    for t in types:
        spec = _table(own, t, required=False)
        per_type = {m: _metric(f"metrics.{t}.{m}", m, s) for m, s in spec.items()}
        if foreign := sorted(set(per_type) - set(known[t].metrics)):
            raise ValueError(
                f"[metrics.{t}] {foreign[0]!r}: a {t} does not measure it; it measures {', '.join(known[t].metrics)}"
            )
        mapped[t] = {m: spec for m, spec in shared.items() if m in known[t].metrics} | per_type
    if shared and not any(mapped.values()):
        raise ValueError(f"[metrics] {', '.join(shared)}: no mapped device type ({', '.join(types)}) measures them")
    return mapped


def _metric(name: str, metric: str, spec: Any) -> MetricMap:
    if metric not in METRICS:
        raise ValueError(f"{name}: {metric!r} is not a metric; expected one of {', '.join(METRICS)}")
    spec = {"column": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict) or set(spec) - {"column", "scale", "offset", "kind"}:
        raise ValueError(f'{name}: expected "column" or {{ column = "...", scale = 1.0, offset = 0.0 }}')
    kind = str(spec.get("kind", "interval"))
    if kind not in ENERGY_KINDS or (kind != "interval" and metric != "energy_wh"):
        raise ValueError(f"{name}.kind {kind!r}: only energy_wh has a kind, one of {', '.join(ENERGY_KINDS)}")
    if metric in BOOL_METRICS and ("scale" in spec or "offset" in spec):
        raise ValueError(f"{name}: {metric} is true/false; scale and offset apply to numbers only")
    return MetricMap(_text(spec, "column", name), float(spec.get("scale", 1.0)), float(spec.get("offset", 0.0)), kind)


def _labels(name: str, spec: dict, allowed: tuple[str, ...], *, default: str | None) -> Source:
    """status/alert: a column whose values (mapped through `values`; "" = none) must be one of `allowed`."""
    if not spec:
        return Source(value=default)
    source = _source(name, {k: v for k, v in spec.items() if k != "default"})
    fallback = spec.get("default", default)
    if bad := [v for v in [*source.values.values(), fallback] if v not in (*allowed, "", None)]:
        raise ValueError(f"{name}: {bad[0]!r} is not one of {', '.join(allowed)}")
    return Source(column=source.column, value=fallback or None, values=source.values)
