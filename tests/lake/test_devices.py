"""The device registry: concurrent upserts (two producers provisioning at once) both land."""

from __future__ import annotations

from datetime import date

import polars as pl

from lake import tables
from lake.devices import load_catalog, register_devices
from tests.races import commit_in_turn, run_both


def _devices(*ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "device_id": d,
                "device_type": "smart_plug",
                "home_id": "h9",
                "location": "office",
                "installation_date": date(2026, 1, 1),
                "manufacturer": "m",
                "model": "p",
                "home_name": "Home Nine",
                "latitude": 1.0,
                "longitude": 2.0,
            }
            for d in ids
        ],
        schema=tables.DEVICES.schema,
    )


def test_two_registrations_planned_on_one_version_both_land(settings, monkeypatch):
    register_devices(settings, _devices("a"))
    commit_in_turn(monkeypatch)  # both read the registry holding "a", then commit one after the other
    run_both(lambda: register_devices(settings, _devices("b")), lambda: register_devices(settings, _devices("c")))
    catalog = load_catalog(settings)
    assert {"a", "b", "c"} <= set(catalog["device_id"])


def test_an_upsert_replaces_a_devices_row(settings):
    register_devices(settings, _devices("a", "b"))
    register_devices(settings, _devices("b").with_columns(location=pl.lit("garage")))
    registry = load_catalog(settings).filter(pl.col("home_id") == "h9").sort("device_id")
    assert registry["device_id"].to_list() == ["a", "b"] and registry["location"].to_list() == ["office", "garage"]
