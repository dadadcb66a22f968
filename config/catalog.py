"""The device catalog (which devices exist, in which home) and the device types (what they measure, valid ranges).

The shipped catalog is `config/device_catalog.csv` joined with `config/homes.csv`; the lake's device registry
(`reference/devices`, lake/devices.py) adds the devices the producer provisions (`--homes N`, a replay).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from config.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent

DEVICE_TYPES = (
    "thermostat",
    "smart_bulb",
    "smart_plug",
    "security_camera",
    "motion_sensor",
    "environment_sensor",
    "energy_meter",
)

CATALOG_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "device_type": pl.String(),
    "home_id": pl.String(),
    "location": pl.String(),
    "installation_date": pl.Date(),
    "manufacturer": pl.String(),
    "model": pl.String(),
    "home_name": pl.String(),
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
}


ALERT_LIMITS = ("temperature_low_c", "temperature_high_c", "power_high_w", "co_high_ppm", "smoke_high_ppm")
ANOMALY_METRICS = ("temperature_c", "power_w")


@dataclass(frozen=True)
class DeviceType:
    """What a device type measures, the valid [min, max] of each numeric metric, its alert limits and the minimum
    meaningful deviation of each metric for anomalies (config/device_types.toml)."""

    name: str
    metrics: tuple[str, ...]
    ranges: dict[str, tuple[float, float]]
    behaviour: dict[str, object]
    alerts: dict[str, float] = field(default_factory=dict)
    anomaly: dict[str, float] = field(default_factory=dict)


def _numbers(path: Path, name: str, table: str, spec: dict, allowed: tuple[str, ...]) -> dict[str, float]:
    """A [TYPE.table] of numbers whose keys must be among `allowed`."""
    values = spec.get(table, {})
    if unknown := set(values) - set(allowed):
        raise ConfigError(f"{path}: [{name}.{table}] has unknown keys {sorted(unknown)}; allowed: {', '.join(allowed)}")
    return {key: float(value) for key, value in values.items()}


@cache
def device_types(path: Path = CONFIG_DIR / "device_types.toml") -> dict[str, DeviceType]:
    """Every device type from the TOML file, by name."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); restore it from git") from None
    types = {}
    for name, spec in raw.items():
        ranges = {metric: (float(lo), float(hi)) for metric, (lo, hi) in spec.get("ranges", {}).items()}
        types[name] = DeviceType(
            name,
            tuple(spec["metrics"]),
            ranges,
            dict(spec.get("behaviour", {})),
            alerts=_numbers(path, name, "alerts", spec, ALERT_LIMITS),
            anomaly=_numbers(path, name, "anomaly", spec, ANOMALY_METRICS),
        )
    if missing := set(DEVICE_TYPES) - set(types):
        raise ConfigError(f"{path} lacks device types {sorted(missing)}")
    return types


def ranges_frame() -> pl.DataFrame:
    """One row per (device_type, metric) with its valid min and max: the table of range rules."""
    rows = [(t.name, metric, lo, hi) for t in device_types().values() for metric, (lo, hi) in t.ranges.items()]
    return pl.DataFrame(
        rows, schema={"device_type": pl.String, "metric": pl.String, "min": pl.Float64, "max": pl.Float64}, orient="row"
    )


def config_catalog(
    devices_csv: Path = CONFIG_DIR / "device_catalog.csv", homes_csv: Path = CONFIG_DIR / "homes.csv"
) -> pl.DataFrame:
    """The shipped catalog: devices joined with their homes, in CATALOG_SCHEMA."""
    try:
        devices = pl.read_csv(devices_csv, schema_overrides={"installation_date": pl.Date})
        homes = pl.read_csv(homes_csv)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"device catalog cannot be read ({exc}); check {devices_csv} and {homes_csv}") from None
    catalog = devices.join(homes, on="home_id", how="left").select(list(CATALOG_SCHEMA)).cast(CATALOG_SCHEMA)
    unknown = set(catalog["device_type"]) - set(DEVICE_TYPES)
    if unknown:
        raise ConfigError(f"{devices_csv}: unknown device types {sorted(unknown)}; known: {', '.join(DEVICE_TYPES)}")
    return catalog
