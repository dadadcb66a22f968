"""Every performance figure in one run: `python -m scripts.benchmark` prints one Markdown table and writes it to a file.

Starts a throwaway Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and a scratch lake, then runs
benchmarks/<area>.py for each area. `--scale 0.1` shrinks every workload for a quick look.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import platform
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil

from benchmarks.harness import BenchContext, Result
from common.cli import run, setup_logging
from config.settings import Settings
from ops.kafka_cluster import temporary_cluster

logger = logging.getLogger(__name__)

AREAS = ("producer", "ingest", "silver", "gold", "freshness", "dashboard", "sentinel", "scaling")
REPO = Path(__file__).resolve().parent.parent


def machine() -> str:
    """One line naming the machine the figures come from."""
    memory_gib = psutil.virtual_memory().total / 2**30
    return f"{psutil.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def table(results: list[Result]) -> str:
    """Results as one Markdown table: figure, value, reference, ratio, goal, met."""
    lines = ["| figure | value | reference | ratio | goal | met |", "| --- | ---: | --- | ---: | --- | :---: |"]
    for r in results:
        reference = f"{r.reference:,.1f} ({r.reference_label})" if r.reference is not None else r.reference_label
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        lines.append(f"| {r.figure} | {r.value:,.1f} {r.unit} | {reference} | {ratio} | {r.goal} | {met} |")
    return "\n".join(lines)


@contextlib.contextmanager
def _bootstrap(settings: Settings) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield settings.kafka_bootstrap_servers
        return
    with temporary_cluster(home=REPO / ".kafka", version=settings.kafka_version) as cluster:
        yield cluster.bootstrap


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=AREAS, default=list(AREAS), help="areas to run (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="workload size factor (default 1.0)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="Markdown file written")
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    results: list[Result] = []
    with _bootstrap(settings) as bootstrap, tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for area in args.only:
            module = importlib.import_module(f"benchmarks.{area}")
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LAKE_ROOT": str(Path(workdir) / area / "lake"),
                "TELEMETRY_TOPIC": f"bench.{area}.{datetime.now(UTC):%H%M%S}",
                "LOG_LEVEL": settings.log_level,
            }
            area_settings = Settings.from_env({**os.environ, **env}, dotenv=None)
            logger.info("benchmark %s (scale %.2f)", area, args.scale)
            results.extend(
                module.run(BenchContext(settings=area_settings, workdir=Path(workdir) / area, scale=args.scale))
            )
    report = (
        f"Benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, scale {args.scale}, on {machine()}\n\n"
        + table(results)
        + "\n"
    )
    args.output.write_text(report)
    print(report)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    run(main)
