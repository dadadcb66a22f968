"""Create the telemetry topic if it is missing: `python -m scripts.topic_admin ensure`."""

from __future__ import annotations

import argparse

from common.cli import run, setup_logging
from common.kafka_io import ensure_topic
from config.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.topic_admin", description=__doc__)
    parser.add_argument("action", choices=["ensure"], help="ensure: create TELEMETRY_TOPIC with TELEMETRY_PARTITIONS")
    parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    created = ensure_topic(settings)
    print(f"topic {settings.telemetry_topic} {'created' if created else 'exists'}")
    return 0


if __name__ == "__main__":
    run(main)
