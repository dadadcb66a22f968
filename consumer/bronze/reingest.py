"""Recover bronze data files that are gone: re-read exactly their records from Kafka, or record them as lost.

    python -m consumer.bronze.reingest

Finds the bronze table's data files that are referenced but missing, works out the offsets they held (each file's
partition and offset statistics, less what the other files hold, the recorded gaps, and what lies beyond each
partition's marker), reads exactly those offsets from Kafka into one new commit, records what Kafka no longer holds in
bronze/gaps, and then drops the missing files from the table (delta-rs `repair`, an FSCK commit; silver skips a
missing file that a later FSCK removed). Rerunnable at any point: offsets bronze already holds are never re-read.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from urllib.parse import unquote

import numpy as np
import polars as pl
from deltalake import DeltaTable
from kafka import KafkaConsumer, TopicPartition

from common.cli import run as run_cli
from common.cli import setup_logging
from common.kafka_io import client_config
from config.errors import LakeError
from config.location import Location
from config.settings import Settings
from consumer.bronze import gaps as source_gaps
from consumer.bronze.batch import BronzeBatch
from lake import delta_io, tables

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0  # without a record while offsets are still wanted


def missing_files(table: DeltaTable, path: Location) -> pl.DataFrame:
    """The table's referenced data files that do not exist, with their statistics."""
    actions = delta_io.add_actions(table)
    exists = [(path / unquote(p)).exists() for p in actions["path"]]
    return actions.filter(~pl.Series(exists, dtype=pl.Boolean))


def wanted_offsets(
    settings: Settings, table: DeltaTable, path: Location, missing: pl.DataFrame
) -> dict[tuple[str, int], np.ndarray]:
    """(topic, partition) → the offsets the missing files held: in their offset range, up to the partition's marker,
    and neither in another file nor in a recorded gap."""
    present = [str(path / unquote(p)) for p in delta_io.add_actions(table)["path"] if p not in set(missing["path"])]
    held = (
        pl.scan_parquet(present, storage_options=path.storage_options).select("topic", "partition", "offset").collect()
        if present
        else pl.DataFrame(schema={"topic": pl.String, "partition": pl.Int32, "offset": pl.Int64})
    )
    lost = delta_io.read(tables.GAPS.path(settings))
    wanted: dict[tuple[str, int], np.ndarray] = {}
    for file in missing.iter_rows(named=True):
        topic = file["min.topic"]
        for partition in range(file["min.partition"], file["max.partition"] + 1):
            upto = table.transaction_version(tables.offset_marker(topic, partition))
            if upto is None:
                continue
            offsets = np.arange(file["min.offset"], min(file["max.offset"], upto) + 1, dtype=np.int64)
            mine = held.filter((pl.col("topic") == topic) & (pl.col("partition") == partition))["offset"].to_numpy()
            keep = ~np.isin(offsets, mine)
            for gap in (
                lost.filter((pl.col("topic") == topic) & (pl.col("partition") == partition)).iter_rows(named=True)
                if not lost.is_empty()
                else []
            ):
                keep &= (offsets < gap["from_offset"]) | (offsets > gap["to_offset"])
            key = (topic, partition)
            wanted[key] = np.union1d(wanted.get(key, np.array([], np.int64)), offsets[keep])
    return {key: offsets for key, offsets in wanted.items() if offsets.size}


def read_from_kafka(
    settings: Settings, wanted: dict[tuple[str, int], np.ndarray]
) -> tuple[BronzeBatch, list[source_gaps.Gap]]:
    """Exactly the wanted offsets that Kafka still holds, and gaps for the others."""
    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False, auto_offset_reset="earliest")
    batch, found = BronzeBatch(), {key: set() for key in wanted}
    wanted_sets = {key: set(offsets.tolist()) for key, offsets in wanted.items()}
    try:
        tps = {TopicPartition(*key): offsets for key, offsets in wanted.items()}
        consumer.assign(list(tps))
        for tp, offsets in tps.items():
            consumer.seek(tp, int(offsets[0]))
        ends = {(tp.topic, tp.partition): int(o[-1]) for tp, o in tps.items()}
        last_record = time.monotonic()
        while any(consumer.position(tp) <= ends[(tp.topic, tp.partition)] for tp in tps):
            polled = consumer.poll(timeout_ms=500)
            for tp, records in polled.items():
                want = wanted_sets[(tp.topic, tp.partition)]
                keep = [r for r in records if r.offset in want]
                batch.add(tp.topic, tp.partition, keep, now=time.monotonic())
                found[(tp.topic, tp.partition)].update(r.offset for r in keep)
                last_record = time.monotonic() if records else last_record
            if time.monotonic() - last_record > READ_TIMEOUT_S:
                raise LakeError(
                    f"re-reading bronze's lost records from Kafka: nothing arrived for "
                    f"{READ_TIMEOUT_S:.0f}s (is the broker at {settings.kafka_bootstrap_servers} up?); "
                    "run it again"
                )
    finally:
        consumer.close()
    return batch, _gaps(wanted, found)


def _gaps(wanted: dict[tuple[str, int], np.ndarray], found: dict[tuple[str, int], set[int]]) -> list[source_gaps.Gap]:
    gaps = []
    for (topic, partition), offsets in wanted.items():
        absent = offsets[~np.isin(offsets, np.fromiter(found[(topic, partition)], np.int64))]
        for run in np.split(absent, np.flatnonzero(np.diff(absent) != 1) + 1) if absent.size else []:
            gaps.append(source_gaps.Gap(topic, partition, int(run[0]), int(run[-1]), "deleted"))
    return gaps


def reingest(settings: Settings) -> tuple[int, int]:
    """Recover the missing bronze files; returns (records re-read, records lost)."""
    path = tables.BRONZE.path(settings)
    table = delta_io.open_table(path)
    missing = missing_files(table, path) if table is not None else pl.DataFrame()
    if missing.is_empty():
        return 0, 0
    wanted = wanted_offsets(settings, table, path, missing)
    batch, lost = read_from_kafka(settings, wanted)
    source_gaps.record(tables.GAPS.path(settings), lost)
    if batch.records:
        delta_io.write(
            delta_io.snapshot(path),
            batch.to_arrow(ingested_at=datetime.now(UTC)),
            partition_by=tables.BRONZE.partition_by,
            configuration=tables.BRONZE.configuration,
            metadata={"writer": "bronze-reingest", "rows": str(batch.records)},
        )
    delta_io.load(path).repair(dry_run=False)
    logger.warning(
        "bronze: %d missing data files recovered: %d records re-read from Kafka, %d lost (bronze/gaps)",
        missing.height,
        batch.records,
        sum(g.records for g in lost),
    )
    return batch.records, sum(g.records for g in lost)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m consumer.bronze.reingest", description=__doc__.splitlines()[0]).parse_args(
        argv
    )
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    read, lost = reingest(settings)
    print(
        f"bronze: {read} records re-read from Kafka, {lost} lost at the source"
        if read or lost
        else "bronze: no missing data file"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
