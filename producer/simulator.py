"""Pure, vectorised fleet simulation: one call to `tick` computes one reading of every online device.

No I/O and no wall clock: time comes in as epoch milliseconds, randomness from one seeded generator,
so the same seed, fleet and times give the same events. The only state is per device (numpy arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from common.events import ALERTS, HEADER, METRICS, SCHEMA_VERSION, STATUSES, energy_wh
from config.alert_rules import limits_frame
from config.catalog import ALERT_LIMITS, DeviceType, device_types
from producer.fleet import behaviour
from producer.identity import SIMULATED, event_ids

STATUS_NAMES = pl.Series("status", STATUSES)
ALERT_NAMES = pl.Series("alert", ALERTS)
RANDOM_ALERT_CODES = np.array([5, 0, 1])  # low_battery, connectivity_issue, maintenance_required


@dataclass(frozen=True)
class Readings:
    """One reading of some devices (`idx` into the fleet): times, seqs, status and alert codes, metric values."""

    idx: np.ndarray
    t_ms: np.ndarray
    seq: np.ndarray
    status: np.ndarray
    alert: np.ndarray
    values: dict[str, np.ndarray]


@dataclass
class DeviceCursor:
    """Where each device's counter stands: next seq and time of its previous reading (-1: none)."""

    seq: np.ndarray
    last_ms: np.ndarray


def iso_ms(ts_ms: np.ndarray) -> pl.Series:
    """Epoch milliseconds as ISO-8601 UTC strings with milliseconds and `Z`."""
    return pl.from_epoch(pl.Series("timestamp", ts_ms, dtype=pl.Int64), time_unit="ms").dt.strftime(
        "%Y-%m-%dT%H:%M:%S%.3fZ"
    )


class Simulator:
    """A fleet's devices and their state; `tick(t_ms)` returns one reading per online device."""

    def __init__(self, fleet: pl.DataFrame, *, seed: int, cursor: DeviceCursor | None = None) -> None:
        self.fleet = fleet
        self.n = fleet.height
        self.types: dict[str, DeviceType] = device_types()
        self.b = behaviour()
        self.rng = np.random.default_rng([seed, 0x5EED])
        self.device_type = fleet["device_type"].to_numpy()
        self.mask = {name: self.device_type == name for name in self.types}
        self.measures = {
            m: np.isin(self.device_type, [t.name for t in self.types.values() if m in t.metrics]) for m in METRICS
        }
        # each device's own alert limits: its type's [TYPE.alerts] (config/device_types.toml), as gold uses them
        limits = fleet.select("device_type").join(limits_frame(), on="device_type", how="left", maintain_order="left")
        self.limits = {name: limits[name].fill_null(np.nan).to_numpy() for name in ALERT_LIMITS}
        self.cursor = cursor or DeviceCursor(np.zeros(self.n, np.int64), np.full(self.n, -1, np.int64))
        self._init_state()

    def _uniform(self, spec: list[float]) -> np.ndarray:
        return self.rng.uniform(spec[0], spec[1], self.n)

    def _init_state(self) -> None:
        b, n = self.b, self.n
        self.room_offset = self.rng.normal(0, b["room"]["room_sigma_c"], n)
        self.temp = b["room"]["base_c"] + self.room_offset
        self.humidity = b["room"]["humidity_base"] + self.rng.normal(0, 5.0, n)
        self.setpoint = self.rng.choice(np.array(b["thermostat"]["setpoints_c"]), n)
        self.rated = np.where(
            self.mask["smart_bulb"],
            self._uniform(b["smart_bulb"]["rated_w"]),
            self._uniform(b["smart_plug"]["rated_w"]),
        )
        self.base = np.where(
            self.mask["energy_meter"],
            self._uniform(b["energy_meter"]["base_w"]),
            self._uniform(b["security_camera"]["base_w"]),
        )
        self.peak = self._uniform(b["energy_meter"]["peak_w"])
        self.is_on = self.rng.random(n) < 0.3
        self.battery = self.rng.uniform(40.0, 100.0, n)
        self.offline_left = np.zeros(n, np.int64)
        self.power = np.zeros(n)

    def _activity(self, t_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Daily cycle: (activity 0..1 peaking at 19:00 UTC, hour of day)."""
        hour = (t_ms // 1000 % 86_400) / 3600.0
        return 0.5 + 0.5 * np.cos(2 * np.pi * (hour - 19.0) / 24.0), hour

    def _online(self) -> np.ndarray:
        ev = self.b["events"]
        was_offline = self.offline_left > 0
        self.offline_left = np.maximum(self.offline_left - 1, 0)
        going = (~was_offline) & (self.rng.random(self.n) < ev["offline_probability"])
        lo, hi = ev["offline_readings"]
        self.offline_left = np.where(going, self.rng.integers(lo, hi + 1, self.n), self.offline_left)
        return ~(was_offline | going)

    def _physics(self, act: np.ndarray, hour: np.ndarray) -> dict[str, np.ndarray]:
        """Advance every device's physical state one reading; return the raw metric values."""
        b, n, rng = self.b, self.n, self.rng
        room = b["room"]
        mean_c = (
            room["base_c"] + self.room_offset + room["daily_amplitude_c"] * np.cos(2 * np.pi * (hour - 16.0) / 24.0)
        )
        heating = self.mask["thermostat"] * self.power / 1000.0 * b["thermostat"]["heat_c_per_reading"]
        self.temp += room["pull"] * (mean_c - self.temp) + rng.normal(0, room["walk_sigma_c"], n) + heating
        self.humidity = np.clip(self.humidity + rng.normal(0, room["humidity_sigma"], n), 20.0, 90.0)
        gap = np.clip(self.setpoint - self.temp, 0.0, None)
        thermo = gap * b["thermostat"]["watts_per_degree"] + b["thermostat"]["standby_w"]
        switch = np.where(
            self.mask["smart_bulb"], b["smart_bulb"]["switch_probability"], b["smart_plug"]["switch_probability"]
        )
        p_lo = np.where(
            self.mask["smart_bulb"], b["smart_bulb"]["on_probability"][0], b["smart_plug"]["on_probability"][0]
        )
        p_hi = np.where(
            self.mask["smart_bulb"], b["smart_bulb"]["on_probability"][1], b["smart_plug"]["on_probability"][1]
        )
        redecide = rng.random(n) < switch
        self.is_on = np.where(redecide, rng.random(n) < p_lo + (p_hi - p_lo) * act, self.is_on)
        standby = np.where(self.mask["smart_bulb"], b["smart_bulb"]["standby_w"], b["smart_plug"]["standby_w"])
        switched = np.where(self.is_on, self.rated * (1.0 + rng.normal(0, 0.02, n)), standby)
        m_lo = np.where(
            self.mask["security_camera"],
            b["security_camera"]["motion_probability"][0],
            b["motion_sensor"]["motion_probability"][0],
        )
        m_hi = np.where(
            self.mask["security_camera"],
            b["security_camera"]["motion_probability"][1],
            b["motion_sensor"]["motion_probability"][1],
        )
        motion = rng.random(n) < m_lo + (m_hi - m_lo) * act
        camera = self.base + motion * b["security_camera"]["motion_w"] + rng.normal(0, 0.1, n)
        meter = self.base + self.peak * act**3 + rng.normal(0, b["energy_meter"]["noise_w"], n)
        power = np.select(
            [self.mask["thermostat"], self.mask["smart_bulb"] | self.mask["smart_plug"], self.mask["security_camera"]],
            [thermo, switched, camera],
            meter,
        )
        self.power = np.round(np.clip(power, 0.0, None), 2)
        self.battery = np.clip(self.battery - b["motion_sensor"]["battery_drain_pct"], 0.0, 100.0)
        gas = {m: rng.uniform(*b["environment_sensor"][m], n) for m in ("co_ppm", "lpg_ppm", "smoke_ppm")}
        light = ((hour >= 7) & (hour < 20)) | (rng.random(n) < act * 0.5)
        return {
            "temperature_c": np.round(self.temp, 2),
            "humidity_pct": np.round(self.humidity, 1),
            "setpoint_c": self.setpoint,
            "power_w": self.power,
            "battery_pct": np.round(self.battery, 2),
            **{m: np.round(v, 3) for m, v in gas.items()},
            "motion": motion,
            "light": light,
            "is_on": self.is_on,
        }

    def _clip_to_ranges(self, values: dict[str, np.ndarray]) -> None:
        for t in self.types.values():
            mask = self.mask[t.name]
            for metric, (lo, hi) in t.ranges.items():
                if metric in values and metric != "energy_wh":
                    values[metric] = np.where(mask, np.clip(values[metric], lo, hi), values[metric])

    def _status_alert(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        ev, limit, n, rng = self.b["events"], self.limits, self.n, self.rng
        r = rng.random(n)
        status = np.where(
            r < ev["error_probability"], 2, np.where(r < ev["error_probability"] + ev["maintenance_probability"], 1, 0)
        ).astype(np.int8)
        temp_ok = self.measures["temperature_c"]
        random_alert = np.where(rng.random(n) < ev["random_alert_probability"], rng.choice(RANDOM_ALERT_CODES, n), -1)
        alert = np.select(
            [
                status == 2,
                status == 1,
                temp_ok & (values["temperature_c"] > limit["temperature_high_c"]),
                temp_ok & (values["temperature_c"] < limit["temperature_low_c"]),
                self.measures["power_w"] & (values["power_w"] > limit["power_high_w"]),
                self.measures["battery_pct"] & (values["battery_pct"] < ev["low_battery_pct"]),
            ],
            [0, 1, 2, 3, 4, 5],
            random_alert,
        ).astype(np.int8)
        return status, alert

    def step(self, t_ms: np.ndarray | int, *, limit: int | None = None) -> Readings:
        """Advance the fleet one reading at `t_ms` (epoch ms, scalar or per device); the online devices' readings.

        With `limit`, only the first `limit` online devices report (the others keep their seq).
        """
        t = np.broadcast_to(np.asarray(t_ms, dtype=np.int64), (self.n,))
        online = self._online()
        act, hour = self._activity(t)
        values = self._physics(act, hour)
        self._clip_to_ranges(values)
        status, alert = self._status_alert(values)
        last = self.cursor.last_ms
        values["energy_wh"] = energy_wh(values["power_w"], np.where(last >= 0, t - last, -1))
        idx = np.flatnonzero(online)[:limit]
        readings = Readings(
            idx, t[idx], self.cursor.seq[idx].copy(), status[idx], alert[idx], {m: v[idx] for m, v in values.items()}
        )
        self.cursor.seq[idx] += 1
        self.cursor.last_ms[idx] = t[idx]
        return readings

    def tick(self, t_ms: np.ndarray | int, *, limit: int | None = None) -> pl.DataFrame:
        """`step` as an events frame."""
        return self.frame([self.step(t_ms, limit=limit)])

    def frame(self, batch: list[Readings]) -> pl.DataFrame:
        """Events of a batch of readings: columns HEADER + METRICS (null where the type does not measure it) + ts_ms."""
        idx = np.concatenate([r.idx for r in batch])
        t = np.concatenate([r.t_ms for r in batch])
        seq = np.concatenate([r.seq for r in batch])
        raw = pl.DataFrame(
            {
                "schema_version": pl.Series(np.full(idx.size, SCHEMA_VERSION, np.int32)),
                "event_id": event_ids(self.fleet["device_id"].gather(idx), seq, namespace=SIMULATED),
                "device_id": self.fleet["device_id"].gather(idx),
                "home_id": self.fleet["home_id"].gather(idx),
                "device_type": self.fleet["device_type"].gather(idx),
                "seq": seq,
                "timestamp": iso_ms(t),
                "status": STATUS_NAMES.gather(np.concatenate([r.status for r in batch])),
                "alert": ALERT_NAMES.gather(pl.Series(np.concatenate([r.alert for r in batch])).replace(-1, None)),
                **{m: np.concatenate([r.values[m] for r in batch]) for m in METRICS},
                **{f"_{m}": self.measures[m][idx] for m in METRICS},
                "ts_ms": t,
            }
        )
        return raw.select(*HEADER, *[pl.when(pl.col(f"_{m}")).then(pl.col(m)).alias(m) for m in METRICS], "ts_ms")
