"""The ETL scheduler: silver every SILVER_INTERVAL_S, gold every GOLD_INTERVAL_S (and right after silver wrote
rows), maintenance every MAINTENANCE_INTERVAL_S; or each stage once.

    python -m scripts.run_etl [--once] [--stage silver|gold|maintenance|all]

A failing stage logs one line and runs again at its next tick. Only one scheduler runs per lake
(lock file LAKE_ROOT/.etl.lock); a second one says so and exits 0. SIGTERM (or Ctrl-C) finishes the running stage, then exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys

from common.cli import run as run_cli
from common.cli import setup_logging, stop_on_signals
from config.settings import Settings
from consumer.scheduler import STAGES, EtlLock, EtlScheduler, LockHeldError, lock_path

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.run_etl", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="run the stage(s) once and exit (non-zero if one failed)")
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all",
                        help="which stage to run (default all: silver, gold, maintenance)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    stages = STAGES if args.stage == "all" else (args.stage,)
    try:
        with EtlLock(lock_path(settings)):
            scheduler = EtlScheduler(settings, only=stages, stop_event=stop)
            if args.once:
                return 0 if scheduler.run_once() else 1
            scheduler.run_forever()
    except LockHeldError as exc:
        print(f"{exc}; exiting", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
