"""Recover a lake table whose newest commit file is damaged (empty, cut, unparsable): replace it with an empty commit.

    python -m lake.repair LAYER/NAME

The damaged file is kept in `LAKE_ROOT/.damaged/LAYER/NAME/`. The table then holds what it held before that commit,
with the progress markers of before, so its stage redoes the commit's work: bronze re-reads those records from Kafka
(a gap is recorded for any Kafka no longer holds), a gold table recomputes from silver, silver/run_log finishes the
chunk. The version number stays taken, so a reader that already consumed it is not confused. Only the newest commit
can be replaced this way (a damaged older one needs the file from a backup), and not for silver/telemetry or
silver/quarantine, whose chunk the run log may already count as done: rebuild those from bronze instead.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

import orjson

from common.cli import run as run_cli
from common.cli import setup_logging
from config.errors import LakeError
from config.location import Location, at
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)

NOT_REPLACEABLE = (tables.SILVER, tables.QUARANTINE)


def damaged_commits(path: delta_io.Where) -> list[tuple[Location, str]]:
    """The commit files a reader replays (after the last checkpoint) that are damaged, with why."""
    log = at(path) / "_delta_log"
    first = delta_io.checkpoint_version(log) + 1
    files = [log / f"{v:020d}.json" for v in sorted(delta_io.commit_versions(log.files())) if v >= first]
    return [(f, problem) for f in files if (problem := delta_io.commit_problem(f))]


def repair(settings: Settings, table: tables.Table, *, now: datetime | None = None) -> Location | None:
    """Replace the table's damaged newest commit with an empty one; returns where the damaged file was kept (None: no
    damage). LakeError when the damage cannot be repaired this way."""
    path = table.path(settings)
    found = damaged_commits(path)
    if not found:
        return None
    newest = max(delta_io.commit_versions((path / "_delta_log").files()))
    file, problem = found[0]
    if len(found) > 1 or int(file.name.removesuffix(".json")) != newest:
        raise LakeError(
            f"{table.key}: commit file {file} is damaged ({problem}) and is not the newest commit: restore "
            "it from a backup (an older commit cannot be replaced without losing what later ones built on)"
        )
    if table in NOT_REPLACEABLE:
        raise LakeError(
            f"{table.key}: commit file {file} is damaged ({problem}); restore it from a backup, or rebuild "
            f"silver from bronze (stop the scheduler, move {settings.lake_root / 'silver'} and "
            f"{settings.lake_root / 'gold'} away, run python -m consumer.silver)"
        )
    kept = settings.lake_root / ".damaged" / table.layer / table.name / file.name
    kept.write_bytes(file.read_bytes())
    moment = now or datetime.now(UTC)
    empty = {
        "commitInfo": {
            "timestamp": int(moment.timestamp() * 1000),
            "operation": "REPAIR",
            "operationParameters": {"replaced": f"damaged commit ({problem}), kept in {kept}"},
            delta_io.TXN_COUNT_KEY: "0",
        }
    }
    file.write_bytes(orjson.dumps(empty))  # whole or not at all: a local file is replaced through a temporary one
    logger.warning(
        "%s: replaced the damaged commit %s (%s) with an empty commit; the damaged file is kept in %s",
        table.key,
        file.name,
        problem,
        kept,
    )
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lake.repair",
        description="Replace a lake table's damaged newest commit file with an empty "
        "commit, so that its stage redoes that commit's work.",
    )
    parser.add_argument("table", metavar="LAYER/NAME", help="the table, e.g. bronze/telemetry")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    try:
        table = tables.get(args.table)
    except KeyError as exc:
        raise LakeError(str(exc.args[0])) from None
    kept = repair(settings, table)
    print(
        f"{table.key}: "
        + (
            f"damaged newest commit replaced by an empty one (damaged file kept in {kept}); restart its stage"
            if kept
            else "no damaged commit file"
        )
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
