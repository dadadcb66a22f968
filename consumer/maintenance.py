"""Lake maintenance: compact small files, checkpoint the log, and vacuum unreferenced files, for every table.

    python -m consumer.maintenance [--table LAYER/NAME] [--no-vacuum]

Compaction rewrites small files into large ones in a commit that changes no data (readers of the change feed, like
silver, skip it); vacuum deletes only files unreferenced for longer than VACUUM_RETENTION_HOURS, so readers of
older snapshots keep working. Both retry on concurrent commits, so it is safe while the pipeline runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

from deltalake.exceptions import DeltaError

from common.cli import run as run_cli
from common.cli import setup_logging
from config.errors import ConfigError, LakeError, LakehouseError
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    files_removed: int
    files_added: int
    files_vacuumed: int
    version: int


def maintain_table(path: delta_io.Where, *, retention_hours: float, vacuum: bool = True) -> TableMaintenance:
    """Compact, checkpoint and (optionally) vacuum one table."""
    name = f"{path.parent.name}/{path.name}"
    load = delta_io.load
    delta_io.open_table(path)  # a damaged log stops here, naming the commit file

    def compact() -> dict:
        return load(path).optimize.compact(
            target_size=delta_io.TARGET_FILE_SIZE, writer_properties=delta_io.WRITER_PROPERTIES
        )

    metrics = delta_io.retry_on_conflict(compact, what=f"compaction of {name}")
    table = load(path)
    table.create_checkpoint()
    table.cleanup_metadata()
    vacuumed: list[str] = []
    if vacuum:
        vacuumed = delta_io.retry_on_conflict(
            lambda: load(path).vacuum(
                retention_hours=int(retention_hours), dry_run=False, enforce_retention_duration=False
            ),
            what=f"vacuum of {name}",
        )
    result = TableMaintenance(
        name,
        int(metrics.get("numFilesRemoved", 0)),
        int(metrics.get("numFilesAdded", 0)),
        len(vacuumed),
        load(path).version(),
    )
    logger.debug(
        "maintenance %s: compacted %d files into %d, vacuumed %d, now version %d",
        name,
        result.files_removed,
        result.files_added,
        result.files_vacuumed,
        result.version,
    )
    return result


def run(settings: Settings, *, only: list[str] | None = None, vacuum: bool = True) -> list[TableMaintenance]:
    """Maintain every lake table that exists (or the named layer/name ones)."""
    existing = {t.key: t for t in tables.all_tables() if (t.path(settings) / "_delta_log").is_dir()}
    if only:
        missing = [key for key in only if key not in existing]
        if missing:
            raise ConfigError(f"no such lake table: {', '.join(missing)} (known: {', '.join(existing) or 'none yet'})")
        existing = {key: existing[key] for key in only}
    started = time.perf_counter()
    results, failed = [], []
    for key, table in existing.items():
        try:
            hours = table.vacuum_retention_hours(settings)
            results.append(maintain_table(table.path(settings), retention_hours=hours, vacuum=vacuum))
        except (LakehouseError, DeltaError, OSError) as exc:  # one damaged table must not stop the others
            logger.error("maintenance of %s failed, skipped: %s", key, delta_io.one_line(str(exc)))
            failed.append(key)
    changed = [r for r in results if r.files_removed or r.files_vacuumed]
    log = logger.info if changed else logger.debug
    log(
        "maintenance: %d tables, compacted %d files into %d, vacuumed %d files in %.1fs%s",
        len(results),
        sum(r.files_removed for r in results),
        sum(r.files_added for r in results),
        sum(r.files_vacuumed for r in results),
        time.perf_counter() - started,
        f" ({', '.join(r.table for r in changed)})" if changed else "",
    )
    if failed:
        raise LakeError(
            f"maintenance skipped {len(failed)} damaged tables ({', '.join(failed)}; the errors above say "
            f"why) and maintained the other {len(results)}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.maintenance",
        description="Compact small files and vacuum old ones in every lake table.",
    )
    parser.add_argument(
        "--table", action="append", metavar="LAYER/NAME", help="only this table, e.g. bronze/telemetry (repeatable)"
    )
    parser.add_argument("--no-vacuum", action="store_true", help="compact and checkpoint only")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    if not run(settings, only=args.table, vacuum=not args.no_vacuum):
        logger.info("maintenance: the lake at %s has no tables yet", settings.lake_root)
    return 0


if __name__ == "__main__":
    run_cli(main)
