"""`python -m consumer.sentinel`: live alert episodes from the telemetry topic (see docs/sentinel.md)."""

from __future__ import annotations

import argparse
import logging

from common.cli import run, setup_logging, stop_on_signals
from config.settings import Settings
from consumer.sentinel.run import run as run_sentinel
from lake import tables

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.sentinel",
        description="Judge every telemetry event as it arrives and keep alert episodes (open, update, resolve) in "
        "gold/alert_episodes and on the alerts topic, exactly once in the lake.",
    )
    parser.add_argument("--idle-exit", type=float, metavar="S", help="stop after S seconds without new records")
    parser.add_argument("--max-changes", type=int, metavar="N", help="stop after N episode changes")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    logger.info(
        "sentinel: %s → %s and %s (group %s)",
        settings.telemetry_topic,
        tables.ALERT_EPISODES.path(settings),
        settings.alerts_topic,
        settings.sentinel_consumer_group,
    )
    run_sentinel(settings, idle_exit_s=args.idle_exit, max_changes=args.max_changes, stop_event=stop)
    return 0


if __name__ == "__main__":
    run(main)
