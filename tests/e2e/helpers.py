"""The whole pipeline as separate processes (producer, bronze ingest, ETL scheduler) and the checks on its result."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from common.kafka_io import end_offsets
from config.settings import Settings
from consumer.gold import storage as gold_io
from lake import delta_io, tables
from tests.kafka_helpers import start_module, wait_for

# ETL_LEASE_TTL_S: a scheduler restarted after a kill -9 stands by until its predecessor's lease lapses
FAST_ETL = {"SILVER_INTERVAL_S": "2", "GOLD_INTERVAL_S": "3", "BRONZE_FLUSH_SECONDS": "1", "ETL_LEASE_TTL_S": "3"}


@dataclass
class Pipeline:
    """Ingest and scheduler processes over one topic and lake; each can be killed and restarted."""

    settings: Settings
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str) -> None:
        """Start `ingest` or `scheduler`; `ingest-2` and the like are more workers of the same consumer group."""
        module = {"ingest": "consumer.bronze", "scheduler": "consumer.scheduler"}[name.split("-")[0]]
        self.procs[name] = start_module(module, self.settings, log=self.logs / f"{name}.log", **FAST_ETL)

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def produce(settings: Settings, ledger: Path, *args: str, log: Path) -> subprocess.Popen:
    return start_module("producer.telemetry_sim", settings, *args, "--ledger", str(ledger), log=log)


def drained(settings: Settings) -> bool:
    """Every record in the topic is in bronze, silver has read all of bronze and gold all of silver."""
    total = sum(end_offsets(settings, settings.telemetry_topic).values())
    log = delta_io.read(tables.RUN_LOG.path(settings))
    if log.is_empty() or int(log["bronze_rows"].sum()) != total:
        return False
    silver = delta_io.open_table(tables.SILVER.path(settings))
    return silver is not None and gold_io.consumed(settings, tables.DAILY_ENERGY) == silver.version()


def wait_drained(settings: Settings, *, timeout_s: float = 240) -> None:
    wait_for(lambda: drained(settings), timeout_s=timeout_s, what="the pipeline to drain into gold")


def check_against_ledger(settings: Settings, ledger_path: Path) -> dict[str, int]:
    """Gold and silver against the producer's own record of what it sent; returns the totals compared."""
    ledger = pl.read_csv(ledger_path, try_parse_dates=True).group_by("device_id", "date").agg(pl.all().sum())
    gold = delta_io.read(tables.DAILY_ENERGY.path(settings))
    joined = ledger.join(
        gold.select("device_id", "date", "readings", "energy_kwh"), on=["device_id", "date"], how="full", coalesce=True
    ).fill_null(0)
    mismatched = joined.filter(
        (pl.col("readings") != pl.col("events")) | ((pl.col("energy_kwh") * 1000 - pl.col("energy_wh")).abs() > 1e-3)
    )
    assert mismatched.is_empty(), f"gold differs from the ledger:\n{mismatched}"
    faults = [c for c in ledger.columns if c.startswith("fault_") and c not in ("fault_duplicate", "fault_late_event")]
    log = delta_io.read(tables.RUN_LOG.path(settings))
    expected = {
        "events": int(ledger["events"].sum()),
        "quarantined": int(ledger.select(faults).sum().sum_horizontal()[0]),
        "duplicates": int(ledger["fault_duplicate"].sum()),
    }
    actual = {
        "events": int(log["silver_rows"].sum()),
        "quarantined": int(log["quarantined_rows"].sum()),
        "duplicates": int(log["duplicate_rows"].sum()),
    }
    assert actual == expected
    assert log["reconciled"].all()
    silver = delta_io.read(tables.SILVER.path(settings), columns=["event_id"])
    assert silver.height == expected["events"] and silver["event_id"].is_unique().all()
    return expected
