"""A multi-device CSV unlike the shipped data set, its replay mapping, and an independent pandas oracle.

The file: `;`-separated with decimal commas, German headers, naive local times (Europe/Berlin) from the evening of
2025-10-25 across local and UTC midnight and the end of daylight saving time (02:00-03:00 happens twice), four
device types in one file (plugs with a recorded per-interval energy in mWh, a cumulative kWh meter that restarts
from zero, thermostats whose energy is integrated from power in kW, sensors with constant and nearly constant
temperatures), gaps of 40 minutes and of 3 hours, status and alert codes, missing values written as "?", "NA",
"-" and "", and one reading sent twice. The oracle reads the raw file with pandas only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 10, 25, 19, 0, tzinfo=UTC)  # 21:00 local (CEST)
STEPS = 60  # readings 10 minutes apart: until 06:00 CET
HEADER = [
    "Zeitstempel",
    "Geraet",
    "Typ",
    "Haushalt",
    "Wohnung",
    "Raum",
    "Leistung_kW",
    "Intervall_mWh",
    "Zaehlerstand_kWh",
    "Temperatur",
    "Feuchte",
    "Sollwert",
    "Bewegung",
    "Zustand",
    "Alarm",
]
DEVICES = {  # serial: (type code, home, home name, room)
    "PLG-1": ("Steckdose", "H1", "Wohnung Nord", "Kueche"),
    "PLG-2": ("Steckdose", "H2", "Wohnung Sued", "Buero"),
    "ZAE-1": ("Zaehler", "H1", "Wohnung Nord", "Keller"),
    "THM-1": ("Thermostat", "H1", "Wohnung Nord", "Bad"),
    "THM-2": ("Thermostat", "H2", "Wohnung Sued", "Flur"),
    "SEN-1": ("Sensor", "H2", "Wohnung Sued", "Wohnzimmer"),
    "SEN-2": ("Sensor", "H1", "Wohnung Nord", "Schlafzimmer"),
}
MAPPING = """
[file]
delimiter = ";"
decimal_comma = true
missing = ["", "?", "NA", "-"]

[time]
column = "Zeitstempel"
format = "%d.%m.%Y %H:%M:%S"
timezone = "Europe/Berlin"

[device]
column = "Geraet"
ids = { "PLG-1" = "fx_plug_1", "PLG-2" = "fx_plug_2", "ZAE-1" = "fx_meter_1", "THM-1" = "fx_thermo_1", "THM-2" = "fx_thermo_2", "SEN-1" = "fx_sensor_1", "SEN-2" = "fx_sensor_2" }
device_type = { column = "Typ", values = { Steckdose = "smart_plug", Zaehler = "energy_meter", Thermostat = "thermostat", Sensor = "environment_sensor" } }
home_id = { column = "Haushalt" }
home_name = { column = "Wohnung" }
location = { column = "Raum" }
manufacturer = "Fixture GmbH"

[metrics]
temperature_c = { column = "Temperatur" }
humidity_pct = { column = "Feuchte" }

[metrics.smart_plug]
power_w = { column = "Leistung_kW", scale = 1000.0 }
energy_wh = { column = "Intervall_mWh", scale = 0.001 }

[metrics.energy_meter]
power_w = { column = "Leistung_kW", scale = 1000.0 }
energy_wh = { column = "Zaehlerstand_kWh", scale = 1000.0, kind = "cumulative" }

[metrics.thermostat]
power_w = { column = "Leistung_kW", scale = 1000.0 }
setpoint_c = { column = "Sollwert" }

[metrics.environment_sensor]
motion = { column = "Bewegung" }

[status]
column = "Zustand"
values = { OK = "online", WARTUNG = "maintenance", FEHLER = "error" }

[alert]
column = "Alarm"
values = { TEMP_HOCH = "high_temperature", KEIN = "" }
"""


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".").replace(".", ",")


def _row(serial: str, at: datetime, k: int, rng: np.random.Generator, meter: list[float]) -> list[str]:
    kind, home, name, room = DEVICES[serial]
    local = at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M:%S")
    row = dict.fromkeys(HEADER, "")
    row.update(Zeitstempel=local, Geraet=serial, Typ=kind, Haushalt=home, Wohnung=name, Raum=room, Zustand="OK")
    if kind in ("Steckdose", "Zaehler", "Thermostat"):
        row["Leistung_kW"] = _num(round(float(rng.uniform(0.05, 2.5)), 3))
    if kind == "Steckdose":
        row["Intervall_mWh"] = _num(round(float(rng.uniform(1000, 400_000)), 1))
    if kind == "Zaehler":
        meter[0] = 0.0 if k == 30 else meter[0] + round(float(rng.uniform(0.01, 0.4)), 4)  # k = 30: restart
        row["Zaehlerstand_kWh"] = _num(meter[0])
    if kind == "Thermostat":
        row.update(
            Temperatur=_num(round(float(rng.uniform(17, 23)), 2)),
            Feuchte=_num(round(float(rng.uniform(30, 60)), 1)),
            Sollwert="21",
        )
    if kind == "Sensor":
        temperature = 21.0 if serial == "SEN-1" else 21.0 + k * 1e-6
        row.update(Temperatur=_num(temperature), Feuchte=_num(45.5), Bewegung=str(int(k % 7 == 0)))
    row["Zustand"] = {5: "WARTUNG", 11: "FEHLER", 17: ""}.get(k, "OK")
    row["Alarm"] = {8: "TEMP_HOCH", 9: "KEIN"}.get(k, "")
    return [row[c] for c in HEADER]


def write_fixture(folder: Path) -> tuple[Path, Path]:
    """The CSV and its mapping in `folder`."""
    rng = np.random.default_rng(13)
    rows: list[tuple[datetime, list[str]]] = []
    for d, serial in enumerate(DEVICES):
        meter = [float(rng.uniform(1000, 2000))]
        for k in range(STEPS):
            if serial == "THM-2" and 20 <= k < 38 or serial == "PLG-2" and k in (40, 41, 42):
                continue  # a 3-hour and a 40-minute gap
            at = START + timedelta(minutes=10 * k, seconds=7 * d + (k % 3))
            rows.append((at, _row(serial, at, k, rng, meter)))
    rows.sort(key=lambda r: r[0])
    body = [r for _, r in rows]
    body[10][HEADER.index("Leistung_kW")] = "?"  # missing markers
    body[40][HEADER.index("Feuchte")] = "NA"
    plug = next(i for i, r in enumerate(body) if r[1] == "PLG-1" and i > 100)
    body[plug][HEADER.index("Intervall_mWh")] = "-"
    body.insert(200, list(body[199]))  # one reading sent twice
    csv, mapping = folder / "haushalt.csv", folder / "haushalt.toml"
    csv.write_text("\n".join(";".join(r) for r in [HEADER, *body]) + "\n", encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    return csv, mapping


def oracle(csv: Path) -> pd.DataFrame:
    """Readings and energy (Wh) per device and UTC date, from the raw file with pandas."""
    raw = pd.read_csv(csv, sep=";", decimal=",", na_values=["", "?", "NA", "-"], keep_default_na=False)
    text = pd.read_csv(csv, sep=";", dtype=str, keep_default_na=False)
    repeated = (text.drop(columns="Geraet") == text.groupby("Geraet").shift()).all(axis=1)
    raw = raw[~repeated].reset_index(drop=True)  # the row sent twice (a constant sensor repeats its values
    # an hour later in the DST fold: same local time, another instant, kept)
    naive = pd.to_datetime(raw["Zeitstempel"], format="%d.%m.%Y %H:%M:%S")
    by_device = raw["Geraet"]
    earlier_max = naive.groupby(by_device).cummax().groupby(by_device).shift()
    previous = naive.groupby(by_device).shift()
    second_pass = (naive < earlier_max) | ((naive == earlier_max) & (previous != naive))
    raw["utc"] = [t.tz_localize("Europe/Berlin", ambiguous=not s).tz_convert("UTC") for t, s in zip(naive, second_pass)]
    raw = raw.sort_values("utc", kind="stable")
    raw["dt_s"] = raw.groupby("Geraet")["utc"].diff().dt.total_seconds()
    power_w = raw["Leistung_kW"] * 1000
    integrated = (power_w * raw["dt_s"] / 3600).where((raw["dt_s"] > 0) & (raw["dt_s"] <= 3600), 0.0)
    meter_wh = raw["Zaehlerstand_kWh"] * 1000
    step = meter_wh - meter_wh.groupby(raw["Geraet"]).ffill().groupby(raw["Geraet"]).shift()
    cumulative = step.where(step >= 0, 0.0).where(meter_wh.notna())
    raw["energy_wh"] = np.select(
        [raw["Typ"] == "Steckdose", raw["Typ"] == "Zaehler", raw["Typ"] == "Thermostat"],
        [raw["Intervall_mWh"] / 1000, cumulative, integrated.where(power_w.notna())],
        np.nan,
    )
    raw["device_id"] = raw["Geraet"].map(
        {
            "PLG-1": "fx_plug_1",
            "PLG-2": "fx_plug_2",
            "ZAE-1": "fx_meter_1",
            "THM-1": "fx_thermo_1",
            "THM-2": "fx_thermo_2",
            "SEN-1": "fx_sensor_1",
            "SEN-2": "fx_sensor_2",
        }
    )
    raw["date"] = raw["utc"].dt.date
    return (
        raw.groupby(["device_id", "date"])
        .agg(readings=("Geraet", "size"), energy_wh=("energy_wh", "sum"))
        .reset_index()
        .sort_values(["device_id", "date"])
        .reset_index(drop=True)
    )
