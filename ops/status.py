"""The platform's health at a glance: broker, processes, topic offsets and lag, lake tables, the ETL lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from common.kafka_io import broker_reachable, group_lag
from config.errors import LakehouseError
from config.settings import Settings
from consumer.bronze import gaps
from lake import delta_io, tables
from lake.lease import read_lease
from ops.kafka_cluster import LocalKafkaCluster
from ops.stack import components, kafka_mode


@dataclass(frozen=True)
class Check:
    """One line of the status report."""

    name: str
    healthy: bool
    detail: str


def checks(settings: Settings, *, now: datetime | None = None) -> list[Check]:
    """Broker, each component, the topic, each lake table, bronze gaps and the ETL lease, in that order."""
    now = now or datetime.now(UTC)
    reachable = broker_reachable(settings)
    mode = kafka_mode() or "external"
    pids = [pid for pid in LocalKafkaCluster.for_settings(settings).pids() if pid]
    nodes = settings.kafka_local_brokers
    result = [
        Check(
            "kafka",
            reachable,
            f"{settings.kafka_bootstrap_servers} ({mode}"
            + (f", pid {', '.join(map(str, pids))}" if pids else "")
            + (f", {len(pids)} of {nodes} nodes running)" if nodes > 1 else ")")
            + ("" if reachable else " not reachable"),
        )
    ]
    for process in components(settings):
        pid = process.pid()
        result.append(
            Check(process.name, pid is not None, f"pid {pid}" if pid else f"not running (log {process.log_file})")
        )
    if reachable:
        result.append(_topic_check(settings))
    for table in tables.all_tables():
        result.append(_table_check(settings, table, now))
    result.append(_gaps_check(settings))
    result.append(_lease_check(settings, now))
    return result


def _lease_check(settings: Settings, now: datetime) -> Check:
    """Who runs silver and gold, until when; red while nobody holds the lease (no scheduler runs)."""
    try:
        lease = read_lease(settings)
    except LakehouseError as exc:
        return Check("etl lease", False, str(exc))
    if lease is None:
        return Check("etl lease", False, "never taken (no scheduler has run on this lake)")
    return Check("etl lease", lease.live(now), lease.describe(now))


def _gaps_check(settings: Settings) -> Check:
    """Red while records lost at the source are not acknowledged."""
    try:
        found = gaps.summary(settings)
    except LakehouseError as exc:
        return Check("bronze gaps", False, str(exc))
    if found.open_gaps:
        return Check(
            "bronze gaps",
            False,
            f"{found.open_records} records lost at the source in {found.open_gaps} gaps "
            "(see bronze/gaps: python -m consumer.bronze.gaps; --ack acknowledges)",
        )
    acknowledged = f"; {found.records} records in {found.gaps} gaps acknowledged" if found.gaps else ""
    return Check("bronze gaps", True, f"no records lost at the source{acknowledged}")


def _topic_check(settings: Settings) -> Check:
    try:
        lags = group_lag(settings, settings.telemetry_topic, settings.bronze_consumer_group)
    except LakehouseError as exc:
        return Check("topic", False, str(exc))
    if not lags:
        return Check("topic", False, f"{settings.telemetry_topic} does not exist (./start.sh creates it)")
    total = sum(p.end_offset for p in lags)
    lag = sum(p.lag for p in lags)
    per_partition = " ".join(f"p{p.partition}={p.end_offset}/{p.lag}" for p in lags)
    return Check(
        "topic",
        True,
        f"{settings.telemetry_topic}: {total} records, group {settings.bronze_consumer_group} "
        f"lag {lag} (end/lag per partition: {per_partition})",
    )


def _table_check(settings: Settings, table: tables.Table, now: datetime) -> Check:
    name = table.key
    try:
        commit = delta_io.last_commit(table.path(settings))
    except LakehouseError as exc:
        return Check(name, False, str(exc))
    if commit is None:
        return Check(name, True, "not written yet (its stage has not run)")
    # `now` is taken once, before the tables are read (slow on S3): a commit made since is 0 s old, not -3 s
    age = max(0.0, (now - commit["timestamp"]).total_seconds())  # type: ignore[operator]
    return Check(
        name,
        True,
        f"version {commit['version']}, last commit {commit['timestamp']:%Y-%m-%d %H:%M:%S}Z "
        f"({age:.0f}s ago, {commit['operation']})",
    )


def render(result: list[Check]) -> str:
    """The report as aligned text lines."""
    width = max(len(c.name) for c in result)
    return "\n".join(f"{'OK ' if c.healthy else 'BAD'} {c.name:<{width}}  {c.detail}" for c in result)
