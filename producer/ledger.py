"""The producer's own record of what it sent: per device × UTC date, valid events, energy and faults by kind.

The end-to-end tests compare gold against it: events and energy per device and day, quarantined rows
against the quarantine fault kinds, duplicates separately (silver drops them).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from config.errors import ConfigError
from producer.faults import FAULT_KINDS, FaultRecord

KEYS = ["device_id", "date"]
FAULT_COLUMNS = [f"fault_{kind}" for kind in FAULT_KINDS]
LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "date": pl.Date(),
    "events": pl.Int64(),
    "energy_wh": pl.Float64(),
    **{c: pl.Int64() for c in FAULT_COLUMNS},
}


def _date(ts_ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ts_ms, time_unit="ms").dt.date().alias("date")


class Ledger:
    """Accumulates sent events and faults; `frame()` sums them per device and date."""

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []

    def add_events(self, frame: pl.DataFrame, late_rows: int = 0) -> None:
        """Count the valid events of `frame` (device_id, ts_ms, energy_wh)."""
        part = (
            frame.lazy()
            .group_by(pl.col("device_id"), _date(pl.col("ts_ms")))
            .agg(pl.len().cast(pl.Int64).alias("events"), pl.col("energy_wh").fill_null(0.0).sum().alias("energy_wh"))
        )
        self._append(part.collect())

    def add_faults(self, records: list[FaultRecord], late: pl.DataFrame | None = None) -> None:
        """Count fault records by kind on their source device and date; `late` rows are late_event faults."""
        rows = [(r.device_id, r.ts_ms, r.kind) for r in records]
        if late is not None and late.height:
            rows += [(d, t, "late_event") for d, t in late.select("device_id", "ts_ms").iter_rows()]
        if not rows:
            return
        faults = pl.DataFrame(rows, schema={"device_id": pl.String, "ts_ms": pl.Int64, "kind": pl.String}, orient="row")
        part = faults.group_by(pl.col("device_id"), _date(pl.col("ts_ms"))).agg(
            *[(pl.col("kind") == kind).sum().cast(pl.Int64).alias(f"fault_{kind}") for kind in FAULT_KINDS]
        )
        self._append(part)

    def _append(self, part: pl.DataFrame) -> None:
        self._parts.append(part)
        if len(self._parts) >= 200:
            self._parts = [self.frame()]

    def frame(self) -> pl.DataFrame:
        """One row per device and date, LEDGER_SCHEMA."""
        parts = [
            p.select([pl.col(c).cast(t) if c in p.columns else pl.lit(0, t).alias(c) for c, t in LEDGER_SCHEMA.items()])
            for p in self._parts
        ]
        if not parts:
            return pl.DataFrame(schema=LEDGER_SCHEMA)
        return pl.concat(parts).group_by(KEYS).agg(pl.exclude(KEYS).sum()).sort(KEYS)

    def write(self, path: Path) -> pl.DataFrame:
        """Add this run's counts to the ledger file at `path` (.csv or .parquet); return the merged ledger."""
        merged = self.frame()
        if path.exists():
            merged = pl.concat([read_ledger(path), merged]).group_by(KEYS).agg(pl.exclude(KEYS).sum()).sort(KEYS)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".parquet":
            merged.write_parquet(tmp)
        else:
            merged.write_csv(tmp)
        tmp.replace(path)
        return merged


def read_ledger(path: Path) -> pl.DataFrame:
    """A ledger file written by `Ledger.write`."""
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path).cast(LEDGER_SCHEMA)
        return pl.read_csv(path, schema=LEDGER_SCHEMA)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"ledger {path} cannot be read ({exc}); move it away or pass another --ledger") from None
