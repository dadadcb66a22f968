"""The lake's device registry (`reference/devices`) and the catalog silver and gold validate and enrich against:
the shipped catalog (config/catalog.py) ∪ the registry, which the producer fills when it provisions a fleet
(`--homes N`, a replay). The registry wins for a device in both.
"""

from __future__ import annotations

import polars as pl

from config.catalog import config_catalog
from config.settings import Settings
from lake import delta_io, tables


def load_catalog(settings: Settings) -> pl.DataFrame:
    """Config catalog ∪ lake registry, one row per device_id (the registry wins)."""
    registry = delta_io.read(tables.DEVICES.path(settings))
    if registry.is_empty():
        return config_catalog()
    # one row per device even if two first upserts raced on a fresh registry (both commit against its empty start)
    registry = registry.select(list(tables.DEVICES.schema)).cast(tables.DEVICES.schema).unique("device_id", keep="last")
    shipped = config_catalog().join(registry, on="device_id", how="anti")
    return pl.concat([registry, shipped]).sort("device_id")


def register_devices(settings: Settings, devices: pl.DataFrame) -> None:
    """Upsert devices (the registry's columns) into the lake's registry, in one atomic commit."""
    devices = devices.select(list(tables.DEVICES.schema)).cast(tables.DEVICES.schema).unique("device_id", keep="last")
    path = tables.DEVICES.path(settings)

    def upsert() -> None:
        # read and overwrite one snapshot: a concurrent upsert's overwrite removed the same files, so this commit
        # conflicts and is re-planned on the new registry (a path-based write would silently drop its devices)
        planned = delta_io.snapshot(path)
        current = pl.DataFrame() if planned.table is None else pl.from_arrow(planned.table.to_pyarrow_table())
        if not current.is_empty():
            kept = current.select(list(tables.DEVICES.schema)).join(devices, on="device_id", how="anti")
            merged = pl.concat([kept, devices])
        else:
            merged = devices
        delta_io.write(planned, merged.sort("device_id"), mode="overwrite")

    delta_io.retry_on_conflict(upsert, what="device registry")
