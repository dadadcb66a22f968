"""Run the Apache Kafka broker locally without Docker: `python -m scripts.kafka_local start|stop|status`."""

from __future__ import annotations

import argparse
import logging

from common.cli import run, setup_logging
from config.settings import Settings
from ops.local_kafka import LocalKafka

logger = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka_local.sh", description=__doc__)
    parser.add_argument(
        "action",
        choices=["install", "start", "stop", "status"],
        help="install: fetch the jars; start: install, format once, start and wait; "
        "stop: SIGTERM then SIGKILL; status: running or not (exit 1 when not)",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    broker = LocalKafka.for_settings(settings)
    if args.action == "install":
        print(f"Kafka {broker.version} jars in {broker.install()}")
    elif args.action == "start":
        started = broker.start()
        print(
            f"Kafka {broker.version} {'started' if started else 'already running'} at {broker.bootstrap} "
            f"(pid {broker.pid()}, log {broker.log_file})"
        )
    elif args.action == "stop":
        print("Kafka stopped" if broker.stop() else "Kafka was not running")
    else:
        pid = broker.pid()
        print(f"Kafka running at {broker.bootstrap} (pid {pid})" if pid else "Kafka not running")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    run(main)
