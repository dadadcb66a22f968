"""The acceptance scenario as replayable CSVs: a CO spike of 40 s, a plug over its rating for 5 minutes, a device
with constant readings and one that goes silent for 200 s; and the episodes it must yield."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

T0 = datetime(2020, 7, 13, 8, 0, tzinfo=UTC)  # old data: the wall clock must not matter
SECONDS = 600
ENV_MAPPING = """[time]
column = "ts"
format = "epoch_s"
[device]
column = "device"
device_type = "environment_sensor"
home_id = "home_test"
home_name = "Test home"
latitude = 0.0
longitude = 0.0
location = "kitchen"
manufacturer = "Test"
model = "T1"
installation_date = "2020-01-01"
[metrics]
temperature_c = { column = "temp" }
co_ppm = { column = "co" }
smoke_ppm = { column = "smoke" }
"""
PLUG_MAPPING = (
    ENV_MAPPING.replace('column = "device"', 'id = "plug-1"')
    .replace('"environment_sensor"', '"smart_plug"')
    .split("[metrics]")[0]
    + '[metrics]\npower_w = { column = "power" }\n'
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def env_rows(seconds: range = range(SECONDS)) -> pl.DataFrame:
    """env-co: CO 60 ppm from 120 s to 160 s; env-const: always the same; env-silent: nothing from 201 s to 399 s."""
    rows = []
    for s in seconds:
        ts = T0.timestamp() + s
        rows.append(("env-co", ts, 21.0, 60.0 if 120 <= s < 160 else 1.5, 4.0))
        rows.append(("env-const", ts, 21.0, 1.5, 4.0))
        if not 200 < s < 400:
            rows.append(("env-silent", ts, 21.0, 1.5, 4.0))
    return pl.DataFrame(rows, schema=["device", "ts", "temp", "co", "smoke"], orient="row")


def plug_rows(seconds: range = range(SECONDS)) -> pl.DataFrame:
    """plug-1: 3,500 W (over its 3,000 W limit) from 60 s to 360 s, 100 W otherwise."""
    return pl.DataFrame(
        {"ts": [T0.timestamp() + s for s in seconds], "power": [3500.0 if 60 <= s < 360 else 100.0 for s in seconds]}
    )


def write(folder: Path, name: str, frame: pl.DataFrame, mapping: str) -> tuple[Path, Path]:
    csv, toml = folder / f"{name}.csv", folder / f"{name}.toml"
    frame.write_csv(csv)
    toml.write_text(mapping)
    return csv, toml


# (device, kind, change, started_at, changed_at) of every change the scenario yields (hold 5 s, updates every 60 s,
# silent after 30 s)
EXPECTED = sorted(
    [
        ("env-co", "high_co", "open", at(120), at(125)),
        ("env-co", "high_co", "resolve", at(120), at(160)),
        ("plug-1", "high_power", "open", at(60), at(65)),
        *[("plug-1", "high_power", "update", at(60), at(60 + 60 * k)) for k in (1, 2, 3, 4)],
        ("plug-1", "high_power", "resolve", at(60), at(360)),
        ("env-silent", "silent", "open", at(230), at(230)),
        ("env-silent", "silent", "resolve", at(230), at(400)),
    ]
)


def observed(changes: pl.DataFrame) -> list[tuple]:
    return sorted(changes.select("device_id", "kind", "change", "started_at", "changed_at").rows())
