"""Scaling (docs/scaling.md): bronze ingest with 3 brokers, 3 worker processes and the lake on S3, next to the
reference of 1 broker + 1 worker + a local folder; silver and gold over the same bronze on the local folder and S3.

Every ingest worker is `python -m consumer.bronze` in its own process and working directory (as on its own host),
draining a pre-filled topic. Its rate is the records over the time from the first partition assignment of any
worker (its log line) to the bronze table's last commit: process start excluded, rebalances included. Each
figure names the 1-minute load average measured right after it: this machine has 2 cores, shared.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake
from kafka import KafkaProducer

from benchmarks.harness import REPO, BenchContext, Result, in_child
from benchmarks.silver import COMMIT_ROWS, bronze_commit
from common.kafka_io import client_config, ensure_topic
from config.settings import Settings, env_names
from lake import delta_io, tables
from ops.kafka_cluster import temporary_cluster
from ops.object_store import temporary_object_store

logger = logging.getLogger(__name__)

ASSIGNED = "consumer.bronze.ingest: assigned p"  # the log line of a member that got partitions
IDLE_EXIT_S = 3.0  # a worker stops this long after its last record
WORKER_TIMEOUT_S = 300.0


@dataclass(frozen=True, kw_only=True)
class Measured:
    value: float
    load: float  # 1-minute load average right after the measurement

    def label(self, text: str) -> str:
        return f"{text} [load {self.load:.1f}]"


def variant(base: Settings, workdir: Path, **env: object) -> Settings:
    """`base` with some settings replaced (env-style names), its lake (unless given) and local state under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    overrides = {key: str(value) for key, value in env.items()}
    return Settings.from_env(
        {**base.to_env(), "LAKE_ROOT": str(workdir / "lake"), "STATE_DIR": str(workdir / "state"), **overrides},
        dotenv=None,
    )


def preload(settings: Settings, n: int) -> None:
    """`n` distinct schema-v1 events in the topic, spread evenly over its partitions."""
    ensure_topic(settings)
    producer = KafkaProducer(
        **client_config(settings), acks="all", linger_ms=20, batch_size=512 * 1024, compression_type="lz4"
    )
    partitions = settings.telemetry_partitions
    for first in range(0, n, COMMIT_ROWS):
        rows = bronze_commit(first, min(COMMIT_ROWS, n - first), topic=settings.telemetry_topic)
        for i, (key, value) in enumerate(zip(rows["key"].to_list(), rows["value"].to_list()), start=first):
            producer.send(settings.telemetry_topic, key=key, value=value, partition=i % partitions)
    producer.flush()
    producer.close()


def ingest(settings: Settings, *, workers: int, n: int, workdir: Path) -> Measured:
    """Drain the topic into bronze with `workers` processes of one group; the records/s of the whole group."""
    env = {k: v for k, v in os.environ.items() if k not in env_names()}
    env.update(settings.to_env(), PYTHONPATH=str(REPO))
    args = [sys.executable, "-m", "consumer.bronze", "--idle-exit", str(IDLE_EXIT_S)]
    procs = []
    for i in range(workers):
        host = workdir / f"host-{i}"
        host.mkdir(parents=True, exist_ok=True)
        with (host / "ingest.log").open("ab") as log:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(args, cwd=host, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [proc.wait(WORKER_TIMEOUT_S) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if any(codes):
        raise RuntimeError(f"an ingest worker failed (exit codes {codes}): see {workdir}/host-*/ingest.log")
    table = delta_io.load(tables.BRONZE.path(settings))
    if table.count() != n:
        raise RuntimeError(f"bronze holds {table.count():,} records, {n:,} were produced")
    measured = Measured(value=drain_rate(workdir, table.history(), n), load=os.getloadavg()[0])
    logger.info(
        "scaling: %s, %d worker(s): %.0f rec/s [load %.1f]", workdir.name, workers, measured.value, measured.load
    )
    return measured


def drain_rate(workdir: Path, history: list[dict], n: int) -> float:
    """Records per second from the first partition assignment of any worker (in its log) to the table's last
    commit: process start excluded, the group's rebalances as later workers join included."""
    lines = (line for log in workdir.glob("host-*/ingest.log") for line in log.read_text().splitlines())
    assigned = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in lines if ASSIGNED in line]
    if not assigned:
        raise RuntimeError(f"no worker logged its assignment: see {workdir}/host-*/ingest.log")
    last_commit = max(c["timestamp"] for c in history) / 1000
    return n / max(last_commit - min(assigned).timestamp(), 1e-3)


def warm_up(uri: str, storage_options: dict[str, str]) -> None:
    """One small Delta table written to a fresh server: SeaweedFS allocates its volumes on the first data write
    (about 6 s here), a one-off cost of the server, not of the lake."""
    values = pa.array(np.random.default_rng(0).integers(0, 2**62, 200_000))
    write_deltalake(uri, pa.table({"x": values}), storage_options=storage_options)


def stage(call: str, settings: Settings, n: int, **kwargs: object) -> Measured:
    """Rows per second of one silver or gold run over `n` events, in its own process."""
    child = in_child(call, settings, **kwargs)
    measured = Measured(value=n / child.seconds, load=os.getloadavg()[0])
    logger.info("scaling: %s on %s: %.0f rows/s [load %.1f]", call, settings.lake_root, measured.value, measured.load)
    return measured


def local_pass(settings: Settings, n: int, workdir: Path) -> tuple[Measured, Measured, Measured]:
    """The reference: 1 worker of the 1-broker topic into a local folder, then silver and gold over that bronze."""
    bronze = ingest(settings, workers=1, n=n, workdir=workdir)
    silver = stage("consumer.silver.run:run", settings, n)
    return bronze, silver, stage("consumer.gold.run:run", settings, n, full=True)


def mean(a: Measured, b: Measured) -> Measured:
    return Measured(value=(a.value + b.value) / 2, load=(a.load + b.load) / 2)


def run(ctx: BenchContext) -> list[Result]:
    n = ctx.n(300_000, minimum=20_000)
    flush = {"BRONZE_FLUSH_RECORDS": max(2_000, n // 10), "BRONZE_CONSUMER_GROUP": "bench-scaling"}
    topic = ctx.settings.telemetry_topic
    local = variant(ctx.settings, ctx.workdir / "local", TELEMETRY_TOPIC=f"{topic}.b1", **flush)
    preload(local, n)
    first = local_pass(local, n, ctx.workdir / "local")
    settings = ctx.settings
    with temporary_object_store(home=REPO / settings.object_store_home, version=settings.object_store_version) as s3:
        warm_up(f"s3://{s3.bucket}/warm-up", s3.storage_options())
        lake = variant(local, ctx.workdir / "s3", LAKE_ROOT=f"s3://{s3.bucket}/lake", **s3.storage_options())
        on_s3 = ingest(lake, workers=1, n=n, workdir=ctx.workdir / "s3")
        silver_s3 = stage("consumer.silver.run:run", lake, n)
        gold_s3 = stage("consumer.gold.run:run", lake, n, full=True)
    with temporary_cluster(home=REPO / ".kafka", version=settings.kafka_version, nodes=3) as cluster:
        replicated = {"KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap, "TELEMETRY_TOPIC": f"{topic}.b3"}
        replicated |= {"KAFKA_REPLICATION_FACTOR": 3, "KAFKA_MIN_INSYNC_REPLICAS": 2}
        three = variant(local, ctx.workdir / "b3w1", **replicated)
        preload(three, n)
        three_one = ingest(three, workers=1, n=n, workdir=ctx.workdir / "b3w1")
        three_three = ingest(variant(three, ctx.workdir / "b3w3"), workers=3, n=n, workdir=ctx.workdir / "b3w3")
    again = variant(local, ctx.workdir / "again", BRONZE_CONSUMER_GROUP="bench-scaling-again")
    last = local_pass(again, n, ctx.workdir / "again")  # the reference once more: drift of the machine evens out
    ref, silver_local, gold_local = (mean(a, b) for a, b in zip(first, last))
    what = f"{n:,} records, {local.telemetry_partitions} partitions, {flush['BRONZE_FLUSH_RECORDS']:,}-record commits"
    reference = "1 broker + 1 worker + local folder"

    def ingest_row(text: str, m: Measured) -> Result:
        return Result(
            figure=m.label(f"bronze ingest, {text} ({what}; rec/s)"),
            value=m.value,
            unit="rec/s",
            reference=None if m is ref else ref.value,
            reference_label="" if m is ref else reference,
        )

    def stage_row(text: str, m: Measured, base: Measured) -> Result:
        return Result(
            figure=m.label(f"{text} over {n:,} events, lake on S3 (SeaweedFS on loopback)"),
            value=m.value,
            unit="rows/s",
            reference=base.value,
            reference_label=f"local folder, mean of a run first and last [load {base.load:.1f}]",
        )

    return [
        ingest_row(
            f"1 broker + 1 worker + local folder, mean of a run first ({first[0].value:,.0f}) and last "
            f"({last[0].value:,.0f})",
            ref,
        ),
        ingest_row("1 broker + 1 worker + lake on S3 (SeaweedFS on loopback)", on_s3),
        ingest_row("3 brokers (RF 3, min ISR 2) + 1 worker + local folder", three_one),
        ingest_row("3 brokers (RF 3, min ISR 2) + 3 worker processes (one group) + local folder", three_three),
        stage_row("silver run", silver_s3, silver_local),
        stage_row("gold full recompute", gold_s3, gold_local),
    ]
