"""Read the lake with Apache Spark: `python -m scripts.spark_reader install|tables`."""

from __future__ import annotations

import argparse
import logging

from common.cli import run, setup_logging
from config.settings import Settings
from lake import tables
from ops.spark_reader import DeltaJars, local_session

logger = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/spark_reader.sh", description=__doc__)
    parser.add_argument(
        "action",
        choices=["install", "tables"],
        help="install: fetch the Delta Lake jars that match the installed pyspark and delta-spark from Maven "
        "Central (once); tables: start a local Spark and print the row count of every lake table it reads",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    jars = DeltaJars.for_settings(settings)
    if args.action == "install":
        print(f"Delta Lake {jars.version} (Scala {jars.scala}) jars in {jars.install()[0].parent}")
        return 0
    spark = local_session(jars.paths())
    try:
        for table in tables.all_tables():
            path = table.path(settings)
            if (path / "_delta_log").is_dir():
                rows = spark.read.format("delta").load(str(path)).count()
                print(f"{table.key:40} {rows:>12,} rows")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run(main)
