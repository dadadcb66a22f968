"""Gold lakes for dashboard tests, written directly in the registry's schemas (lake/tables.py) from small frames."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl

from config.settings import Settings
from lake import delta_io, tables

DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# device → (home, type, home name, lat, lon, status, health, risk)
DEVICES = {
    "d1": ("h1", "thermostat", "Home One", 52.52, 13.40, "healthy", 95.0, 0.05),
    "d2": ("h1", "smart_plug", "Home One", 52.52, 13.40, "attention", 70.0, 0.30),
    "d3": ("h2", "energy_meter", "Home Two", 48.14, 11.58, "critical", 35.0, 0.80),
    "d4": ("h2", "security_camera", "Home Two", 48.14, 11.58, "offline", 50.0, 0.50),
}
# (date, device) → (energy_kwh, readings, alert_count)
ENERGY = {
    (DAY1, "d1"): (1.0, 100, 0),
    (DAY1, "d2"): (2.0, 100, 1),
    (DAY1, "d3"): (3.0, 100, 0),
    (DAY1, "d4"): (0.5, 50, 0),
    (DAY2, "d1"): (1.5, 100, 0),
    (DAY2, "d2"): (2.5, 100, 2),
    (DAY2, "d3"): (4.0, 100, 1),
    (DAY2, "d4"): (0.0, 0, 0),
}
TARIFF = 0.30
HOME_HEALTH = {(DAY1, "h1"): (90.0, 2), (DAY1, "h2"): (60.0, 2), (DAY2, "h1"): (85.0, 2), (DAY2, "h2"): (40.0, 1)}


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of a gold table in its registered schema."""
    return pl.DataFrame(rows, schema=tables.get(f"gold/{table}").schema)


def write_gold(settings: Settings, table: str, rows: list[dict]) -> None:
    """One commit of `rows` to gold/<table>, partitioned like gold writes it."""
    target = tables.get(f"gold/{table}")
    delta_io.write(
        target.path(settings),
        frame(table, rows),
        partition_by=target.partition_by,
        app_transactions={target.marker(): 3},
    )


def energy_rows() -> list[dict]:
    return [
        {
            "date": day,
            "home_id": DEVICES[dev][0],
            "device_id": dev,
            "device_type": DEVICES[dev][1],
            "energy_kwh": kwh,
            "cost": round(kwh * TARIFF, 4),
            "avg_power_w": kwh * 1000 / 24,
            "max_power_w": kwh * 100,
            "avg_temperature_c": 21.0,
            "min_temperature_c": 19.0,
            "max_temperature_c": 23.0,
            "readings": readings,
            "uptime_pct": 100.0 if readings else 0.0,
            "alert_count": alerts,
        }
        for (day, dev), (kwh, readings, alerts) in ENERGY.items()
    ]


def health_rows() -> list[dict]:
    return [
        {
            "device_id": dev,
            "device_type": kind,
            "home_id": home,
            "home_name": name,
            "latitude": lat,
            "longitude": lon,
            "location": "hall",
            "readings": 100,
            "uptime_pct": 90.0,
            "alert_rate": 0.01,
            "anomaly_rate": 0.0,
            "data_quality_rate": 1.0,
            "last_seen": NOW - timedelta(minutes=i),
            "health_score": health,
            "failure_risk": risk,
            "status": status,
            "computed_at": NOW,
        }
        for i, (dev, (home, kind, name, lat, lon, status, health, risk)) in enumerate(DEVICES.items())
    ]


def summary_rows() -> tuple[list[dict], list[dict]]:
    homes, business = [], []
    for day in (DAY1, DAY2):
        for home, name in (("h1", "Home One"), ("h2", "Home Two")):
            kwh = sum(v[0] for (d, dev), v in ENERGY.items() if d == day and DEVICES[dev][0] == home)
            score, active = HOME_HEALTH[(day, home)]
            homes.append(
                {
                    "date": day,
                    "home_id": home,
                    "home_name": name,
                    "total_energy_kwh": kwh,
                    "total_cost": kwh * TARIFF,
                    "active_devices": active,
                    "avg_health_score": score,
                    "alerts": 1,
                    "events": 200,
                }
            )
        kwh = sum(v[0] for (d, _), v in ENERGY.items() if d == day)
        business.append(
            {
                "date": day,
                "total_energy_kwh": kwh,
                "total_cost": kwh * TARIFF,
                "active_devices": 4,
                "avg_health_score": 70.0,
                "alerts": 3,
                "events": 400,
                "quarantined_events": 0,
            }
        )
    return homes, business


def minute_rows(minutes: int = 90) -> list[dict]:
    start = NOW - timedelta(minutes=minutes)
    return [
        {
            "minute": start + timedelta(minutes=m),
            "date": DAY2,
            "hour": (start + timedelta(minutes=m)).hour,
            "home_id": DEVICES[dev][0],
            "device_id": dev,
            "device_type": DEVICES[dev][1],
            "avg_temperature_c": 20.0 + m / 100,
            "avg_power_w": 100.0 + m,
            "energy_wh": 1.5,
            "readings": 4,
        }
        for m in range(minutes)
        for dev in ("d1", "d2")
    ]


ALERTS = [
    ("2026-11-20T11:00:00", "d2", "high_power", 2500.0, 2000.0, "warning"),
    ("2026-11-20T11:30:00", "d3", "high_temperature", 41.0, 30.0, "critical"),
    ("2026-11-19T08:00:00", "d2", "anomaly_power_w", 900.0, 3.0, "info"),
]


def alert_rows() -> list[dict]:
    return [
        {
            "alert_time": datetime.fromisoformat(at).replace(tzinfo=UTC),
            "date": datetime.fromisoformat(at).date(),
            "home_id": DEVICES[dev][0],
            "device_id": dev,
            "device_type": DEVICES[dev][1],
            "kind": kind,
            "value": value,
            "threshold": threshold,
            "severity": severity,
            "event_id": f"e-{i}",
        }
        for i, (at, dev, kind, value, threshold, severity) in enumerate(ALERTS)
    ]


def normal_lake(settings: Settings) -> None:
    """2 homes, 4 devices (one per status), 2 days of energy, 90 minutes of minute rows, billing."""
    homes, business = summary_rows()
    write_gold(settings, "daily_energy_consumption", energy_rows())
    write_gold(settings, "device_health_metrics", health_rows())
    write_gold(settings, "daily_home_summary", homes)
    write_gold(settings, "daily_business_summary", business)
    write_gold(settings, "telemetry_1min", minute_rows())
    write_gold(
        settings,
        "monthly_billing",
        [
            {
                "month": date(2026, 11, 1),
                "home_id": h,
                "energy_kwh": 5.0,
                "rate_per_kwh": TARIFF,
                "energy_cost": 1.5,
                "base_charge": 9.9,
                "total": 11.4,
                "currency": "EUR",
            }
            for h in ("h1", "h2")
        ],
    )


QUALITY = [
    (DAY1, "invalid_json", "quarantine", 3),
    (DAY1, "unknown_device", "quarantine", 2),
    (DAY2, "invalid_json", "quarantine", 5),
    (DAY2, "stale_battery", "warn", 7),
]


def quality_rows() -> list[dict]:
    return [{"date": d, "rule": r, "action": a, "rows": n} for d, r, a, n in QUALITY]


def quarantine_lake(settings: Settings) -> None:
    """The normal lake plus alerts, data-quality counts and two silver run-log entries."""
    normal_lake(settings)
    write_gold(settings, "alerts", alert_rows())
    write_gold(settings, "data_quality_daily", quality_rows())
    runs = [
        {
            "run_id": f"r{i}",
            "started_at": NOW + timedelta(minutes=i),
            "finished_at": NOW + timedelta(minutes=i, seconds=2),
            "bronze_version_from": i * 10,
            "bronze_version_to": i * 10 + 9,
            "bronze_rows": 1000 + i,
            "silver_rows": 990,
            "quarantined_rows": 8 + i,
            "duplicate_rows": 2,
            "reconciled": True,
            "rule_counts": json.dumps({"invalid_json": 5 + i, "unknown_device": 3}),
        }
        for i in range(2)
    ]
    delta_io.write(tables.RUN_LOG.path(settings), pl.DataFrame(runs, schema=tables.RUN_LOG.schema))


def one_row_lake(settings: Settings) -> None:
    """Every Overview table with a single row."""
    write_gold(settings, "daily_energy_consumption", energy_rows()[-3:-2])
    write_gold(settings, "device_health_metrics", health_rows()[:1])
    write_gold(settings, "daily_home_summary", summary_rows()[0][:1])
    write_gold(settings, "telemetry_1min", minute_rows()[:1])
