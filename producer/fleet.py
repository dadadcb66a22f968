"""The fleet a producer simulates: the shipped catalog, or a deterministic synthetic fleet of N homes."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from config.catalog import CATALOG_SCHEMA, DEVICE_TYPES, config_catalog
from config.errors import ConfigError

BEHAVIOUR_TOML = Path(__file__).resolve().parent.parent / "config" / "device_behaviour.toml"

MAKERS: dict[str, list[tuple[str, str]]] = {
    "thermostat": [("Nest", "Learning Thermostat E"), ("Ecobee", "SmartThermostat Premium"), ("tado", "V3+")],
    "smart_bulb": [("Philips Hue", "White Ambiance A19"), ("LIFX", "A19 Color"), ("IKEA", "Tradfri E27")],
    "smart_plug": [("TP-Link", "Kasa KP115"), ("Eve", "Energy"), ("Shelly", "Plug S")],
    "security_camera": [("Arlo", "Pro 4"), ("Ring", "Stick Up Cam"), ("Eufy", "SoloCam S40")],
    "motion_sensor": [("Aqara", "P1"), ("Philips Hue", "Motion Sensor")],
    "environment_sensor": [("Netatmo", "Healthy Home Coach"), ("Airthings", "View Plus")],
    "energy_meter": [("Shelly", "Pro 3EM"), ("Fronius", "Smart Meter TS")],
}
STREETS = [
    "Maple Street",
    "Harbour View",
    "Linden Allee",
    "Oak Lane",
    "River Road",
    "Mill Street",
    "Park Avenue",
    "Garden Row",
    "Hill Crescent",
    "Station Road",
]


@cache
def behaviour(path: Path = BEHAVIOUR_TOML) -> dict[str, Any]:
    """The simulator's behaviour parameters (config/device_behaviour.toml)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); restore it from git") from None


def default_fleet() -> pl.DataFrame:
    """The original platform's devices (config/device_catalog.csv joined with config/homes.csv)."""
    return config_catalog()


def synthetic_fleet(homes: int, *, seed: int) -> pl.DataFrame:
    """A deterministic fleet of `homes` homes with a realistic mix of device types, in CATALOG_SCHEMA."""
    if homes < 1:
        raise ConfigError(f"--homes must be at least 1, got {homes}")
    spec = behaviour()["fleet"]
    rng = np.random.default_rng([seed, 0xF1EE7])
    lat0, lat1, lon0, lon1 = spec["area"]
    rows: list[tuple] = []
    for h in range(1, homes + 1):
        home_id = f"sim_home_{h:05d}"
        home_name = f"{STREETS[int(rng.integers(len(STREETS)))]} {int(rng.integers(1, 200))}"
        lat, lon = round(float(rng.uniform(lat0, lat1)), 4), round(float(rng.uniform(lon0, lon1)), 4)
        for device_type in DEVICE_TYPES:
            lo, hi = spec[device_type]
            for k in range(1, int(rng.integers(lo, hi + 1)) + 1):
                maker, model = MAKERS[device_type][int(rng.integers(len(MAKERS[device_type])))]
                location = spec["locations"][int(rng.integers(len(spec["locations"])))]
                installed = date(2020, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365)))
                rows.append(
                    (
                        f"{home_id}_{device_type}_{k}",
                        device_type,
                        home_id,
                        location,
                        installed,
                        maker,
                        model,
                        home_name,
                        lat,
                        lon,
                    )
                )
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA, orient="row")
