"""`lakehouse COMMAND [options]`: every entry point as one console script (installed by `pip install -e .`).

Each command is the same program as its `python -m` form; `lakehouse COMMAND --help` shows its options.
"""

from __future__ import annotations

import importlib
import sys

from common.cli import run

COMMANDS: dict[str, tuple[str, str]] = {
    "producer": ("producer.telemetry_sim", "simulate a fleet or replay a CSV into Kafka"),
    "ingest": ("consumer.bronze.ingest", "Kafka → bronze, exactly once (long-running)"),
    "sentinel": ("consumer.sentinel.__main__", "live alert episodes from Kafka, exactly once (long-running)"),
    "silver": ("consumer.silver.run", "one incremental bronze → silver run"),
    "gold": ("consumer.gold.run", "one incremental silver → gold run"),
    "scheduler": ("consumer.scheduler", "silver, gold and maintenance on their intervals"),
    "maintenance": ("consumer.maintenance", "compact and vacuum every lake table"),
    "gaps": ("consumer.bronze.gaps", "records lost at the source (bronze/gaps); --ack acknowledges them"),
    "reingest": ("consumer.bronze.reingest", "re-read the records of missing bronze data files from Kafka"),
    "repair": ("lake.repair", "replace a table's damaged newest commit file with an empty commit"),
    "stack": ("scripts.stack", "start or stop the whole platform in the background"),
    "status": ("scripts.status", "health of the broker, processes, topic and lake tables"),
    "kafka": ("scripts.kafka_local", "the local Kafka broker without Docker"),
    "topic": ("scripts.topic_admin", "create the telemetry topic"),
    "benchmark": ("scripts.benchmark", "every performance figure in one table"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return "usage: lakehouse COMMAND [options]   (lakehouse COMMAND --help for its options)\n\ncommands:\n" + "\n".join(
        lines
    )


def main(argv: list[str] | None = None) -> None:
    """Run one command's `main` with the remaining arguments, as `python -m` would."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if args else 2)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"lakehouse {name}", *rest]
    run(module.main)


if __name__ == "__main__":
    main()
