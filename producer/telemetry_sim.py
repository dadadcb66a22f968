"""Smart-home telemetry producer: simulated fleet, CSV replay and fault injection into Kafka."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from common.cli import run as run_cli
from common.cli import setup_logging
from config.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProducerSummary:
    """What one producer run sent."""

    sent: int
    faults: dict[str, int]
    rate: float


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the producer."""
    p = argparse.ArgumentParser(prog="python -m producer.telemetry_sim", description=__doc__)
    p.add_argument("--homes", type=int, default=None, help="synthetic fleet of N homes (default: config/device_catalog.csv)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same events)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between readings of a device (default 1)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (wall time in live mode)")
    p.add_argument("--events", type=int, default=None, help="backfill: send N events as fast as possible")
    p.add_argument("--start", default=None, help="backfill: simulated start time (ISO-8601, UTC)")
    p.add_argument("--end", default=None, help="backfill: simulated end time (ISO-8601, UTC)")
    p.add_argument("--replay", default=None, help="replay readings from a CSV file")
    p.add_argument("--replay-config", default=None, help="column mapping of the replayed CSV (TOML)")
    p.add_argument("--speed", type=float, default=1.0, help="replay time compression (0 = as fast as possible)")
    p.add_argument("--bad-fraction", type=float, default=0.0, help="fraction of deliberately faulty events")
    p.add_argument("--ledger", default=None, help="write the per device x day ledger of what was sent here")
    return p


def run(settings: Settings, **options: object) -> ProducerSummary:
    """Produce telemetry according to `options`; return what was sent."""
    raise NotImplementedError


def main() -> int:
    args = build_parser().parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    summary = run(settings, **vars(args))
    print(f"sent={summary.sent} faults={sum(summary.faults.values())} rate={summary.rate:.0f}/s")
    return 0


if __name__ == "__main__":
    run_cli(main)
