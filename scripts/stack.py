"""Start or stop the whole platform in the background: `python -m scripts.stack start|stop` (start.sh, stop.sh)."""

from __future__ import annotations

import argparse

from common.cli import run, setup_logging
from config.settings import Settings
from ops.stack import start_all, stop_all


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__)
    parser.add_argument(
        "action",
        choices=["start", "stop"],
        help="start: Kafka, topic, ingest, scheduler, dashboard, producer; stop: all of them",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    for line in (start_all if args.action == "start" else stop_all)(settings):
        print(line)
    if args.action == "start":
        print(f"\nDashboard: http://localhost:{settings.dashboard_port}")
        print("Status:    scripts/status.sh      Stop: ./stop.sh")
    return 0


if __name__ == "__main__":
    run(main)
