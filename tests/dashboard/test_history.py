"""The dashboard on replayed history (gold computed by a real gold run) and the alert counts of its two pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from consumer.gold import run as silver_to_gold
from consumer.gold.sample import gold, synthetic_silver, write_silver
from tests.conftest import make_settings
from tests.dashboard import fixtures as fx
from tests.dashboard.apptest import figures, metrics, run_app

REPLAY_DAY = date(2007, 3, 1)


def test_a_replay_of_2007_opens_on_its_day_with_minutes_and_healthy_devices(app_env: Path) -> None:
    settings = make_settings(LAKE_ROOT=app_env)
    silver = synthetic_silver(4_000, start=datetime(2007, 3, 1, 10, tzinfo=UTC), days=2 / 24, devices=14)
    write_silver(settings, silver)
    silver_to_gold.run(settings)  # the wall clock: 2007 is long ago
    assert gold(settings, "telemetry_1min").height > 0
    at = run_app()
    captions = [c.value for c in at.caption]
    assert (
        f"Today ({datetime.now(UTC).date().isoformat()}, UTC) has no data: the dashboard opened on 2007-03-01, the latest day with data."
    ) in captions
    assert "KPIs for 2007-03-01 (UTC), change against the day before" in captions
    kwh = gold(settings, "daily_energy_consumption")["energy_kwh"].sum()
    assert metrics(at)["Energy (kWh)"] == (f"{kwh:,.2f}", "")
    assert metrics(at)["Active devices"] == ("14", "")
    shown = figures(at)
    assert len(shown["Power, last 60 min"]["data"]) == 10  # 2007 minute rows of the 10 devices that measure power
    assert any(
        c.startswith("Device health as of 2007-03-01 11:59:") and "No reading has arrived since" in c for c in captions
    )
    health = gold(settings, "device_health_metrics").filter(pl.col("device_id").str.starts_with("dev_"))
    assert health.height == 14 and "offline" not in health["status"].to_list()


def test_the_overview_alert_card_counts_what_the_alerts_page_lists(app_env: Path) -> None:
    fx.quarantine_lake(make_settings(LAKE_ROOT=app_env))
    # the fixture's alerts: two on 2026-11-20 (the Overview's day), one the day before
    assert metrics(run_app())["Alerts"] == ("2", "1")
    page = run_app("views/alerts.py")
    assert any(
        "3 alerts in the selected dates" in c.value and "2 of them on 2026-11-20" in c.value for c in page.caption
    )
