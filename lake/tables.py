"""The lake's tables, each declared once: layer, name, what a row is, schema, partitioning, progress markers and
retention. Every stage, maintenance, the status report and the dashboard take their tables (and paths) from here.

A progress marker is a Delta application transaction recorded in the same commit as the data: under the marker's
id, the version of the source table (for bronze: the Kafka offset) whose results the table holds. Adding a table
is one `register(Table(...))`; status, maintenance and the dashboard's Pipeline page then list it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl
import pyarrow as pa

from common.events import BOOL_METRICS, NUMERIC_METRICS
from config.catalog import CATALOG_SCHEMA
from config.location import Location
from config.settings import Settings

Layer = Literal["reference", "bronze", "silver", "gold", "system"]
LAYERS: tuple[Layer, ...] = ("reference", "bronze", "silver", "gold", "system")
KAFKA = "kafka"  # the source of bronze: markers per topic-partition
UTC_TS = pl.Datetime("us", "UTC")
NAMES = pl.List(pl.String())


@dataclass(frozen=True, kw_only=True, eq=False)
class Table:
    """One Delta table of the lake (compared and hashed by identity: each is declared once)."""

    layer: Layer
    name: str
    row: str  # what one row is
    schema: Mapping[str, pl.DataType]
    partition_by: tuple[str, ...] = ()
    markers: Mapping[str, str] = field(default_factory=dict)  # source (table key or KAFKA) → progress marker id
    configuration: Mapping[str, str] = field(default_factory=dict)
    retention: str | None = None  # the Settings field (days) that bounds its history
    vacuum_hours: float | None = (
        None  # maintenance keeps its unreferenced files this long (None: VACUUM_RETENTION_HOURS)
    )

    @property
    def key(self) -> str:
        """`layer/name`, as in status and the dashboard."""
        return f"{self.layer}/{self.name}"

    @property
    def source(self) -> str | None:
        """The main source (the first marker's), or None for a table nothing feeds incrementally."""
        return next(iter(self.markers), None)

    @property
    def upstream(self) -> str | None:
        """The lake table it is computed from (its main source, when that is a table and not Kafka or a producer)."""
        return self.source if self.source in _REGISTRY else None

    @property
    def dated(self) -> bool:
        """Whether its rows carry a `date` column (the dashboard filters those by date)."""
        return "date" in self.schema

    def path(self, settings: Settings) -> Location:
        """Where it is in the lake: a folder, or a prefix of the object store (what lake.delta_io takes)."""
        return settings.lake_root / self.layer / self.name

    def marker(self, source: str | None = None) -> str:
        """The progress marker id under which it records how far it consumed `source` (default: its main source)."""
        return self.markers[source or self.source or ""]

    def retention_days(self, settings: Settings) -> int | None:
        return getattr(settings, self.retention) if self.retention else None

    def vacuum_retention_hours(self, settings: Settings) -> float:
        """How long maintenance keeps the files a commit made unreferenced."""
        return self.vacuum_hours if self.vacuum_hours is not None else settings.vacuum_retention_hours


_REGISTRY: dict[str, Table] = {}


def register(table: Table) -> Table:
    """Add a table to the lake's registry (a second declaration of the same key is an error)."""
    if table.key in _REGISTRY:
        raise ValueError(f"lake table {table.key} is declared twice")
    _REGISTRY[table.key] = table
    return table


def unregister(key: str) -> None:
    """Remove a table from the registry (tests that declare throwaway tables)."""
    _REGISTRY.pop(key, None)


def all_tables(layer: Layer | None = None) -> Iterator[Table]:
    """Every declared table (of one layer), in declaration order: upstream first."""
    return (t for t in list(_REGISTRY.values()) if layer is None or t.layer == layer)


def get(key: str) -> Table:
    """The table `layer/name`; KeyError naming the known ones."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"no lake table {key} (known: {', '.join(_REGISTRY)})") from None


# ---- reference ------------------------------------------------------------------------------------------------
DEVICES = register(
    Table(
        layer="reference",
        name="devices",
        row="one device the producer provisioned: type, home, location, make",
        schema=CATALOG_SCHEMA,
    )
)

# ---- bronze ---------------------------------------------------------------------------------------------------
BRONZE_ARROW_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ingest_date", pa.date32(), nullable=False),
    ]
)
BRONZE = register(
    Table(
        layer="bronze",
        name="telemetry",
        row="one Kafka record, its bytes untouched, with its coordinates",
        schema=dict(pl.from_arrow(BRONZE_ARROW_SCHEMA.empty_table()).schema),  # type: ignore[union-attr]
        partition_by=("ingest_date",),
        markers={KAFKA: "bronze:{topic}:{partition}"},
        # append-only; the change data feed lets any reader (Spark, DuckDB) follow its commits
        configuration={"delta.enableChangeDataFeed": "true"},
    )
)


def offset_marker(topic: str, partition: int) -> str:
    """The marker under which bronze records the last offset it holds of a topic-partition."""
    return BRONZE.marker(KAFKA).format(topic=topic, partition=partition)


GAPS = register(
    Table(
        layer="bronze",
        name="gaps",
        row="one run of offsets of a topic-partition lost at the source before bronze read "
        "them (deleted by retention or delete-records, or missing inside the log)",
        schema={
            "topic": pl.String(),
            "partition": pl.Int32(),
            "from_offset": pl.Int64(),
            "to_offset": pl.Int64(),
            "records": pl.Int64(),
            "reason": pl.String(),
            "detected_at": UTC_TS,
        },
        markers={KAFKA: "gaps:{topic}:{partition}"},
    )
)
GAPS_ACKNOWLEDGED = "gaps:acknowledged"  # marker: gaps detected up to this time (epoch ms) are acknowledged


def gap_marker(topic: str, partition: int) -> str:
    """The marker under which bronze/gaps records the last offset of the last gap it holds of a topic-partition."""
    return GAPS.marker(KAFKA).format(topic=topic, partition=partition)


# ---- silver ---------------------------------------------------------------------------------------------------
SILVER = register(
    Table(
        layer="silver",
        name="telemetry",
        row="one valid, deduplicated event, enriched with its device's catalog entry",
        schema={
            "event_id": pl.String(),
            "device_id": pl.String(),
            "home_id": pl.String(),
            "device_type": pl.String(),
            "schema_version": pl.Int32(),
            "seq": pl.Int64(),
            "event_time": UTC_TS,
            "event_date": pl.Date(),
            "status": pl.String(),
            "alert": pl.String(),
            **{name: pl.Float64() for name in NUMERIC_METRICS},
            **{name: pl.Boolean() for name in BOOL_METRICS},
            "home_name": pl.String(),
            "location": pl.String(),
            "manufacturer": pl.String(),
            "model": pl.String(),
            "installation_date": pl.Date(),
            "device_age_days": pl.Int32(),
            "kafka_partition": pl.Int32(),
            "kafka_offset": pl.Int64(),
            "ingested_at": UTC_TS,
            "processing_delay_s": pl.Float64(),
            "is_late_event": pl.Boolean(),
            "quality_score": pl.Float64(),
            "warnings": NAMES,
            "temperature_c_rolling_mean": pl.Float64(),
            "power_w_rolling_mean": pl.Float64(),
        },
        partition_by=("event_date",),
        markers={BRONZE.key: "silver:bronze"},
    )
)
# a bronze record as silver reads it and quarantine keeps it (all of bronze but the headers and the partition)
RECORD_COLUMNS = ("topic", "partition", "offset", "kafka_timestamp", "key", "value", "ingested_at")
QUARANTINE = register(
    Table(
        layer="silver",
        name="quarantine",
        row="one rejected bronze record: its raw bytes and every rule it failed",
        schema={
            **{name: BRONZE.schema[name] for name in RECORD_COLUMNS},
            "failed_rules": NAMES,
            "event_id": pl.String(),
            "device_id": pl.String(),
            "quarantined_at": UTC_TS,
            "quarantine_date": pl.Date(),
        },
        partition_by=("quarantine_date",),
        markers={BRONZE.key: "silver:bronze"},
    )
)
RUN_LOG = register(
    Table(
        layer="silver",
        name="run_log",
        row="one silver run over one chunk of bronze commits, and its reconciliation",
        schema={
            "run_id": pl.String(),
            "started_at": UTC_TS,
            "finished_at": UTC_TS,
            "bronze_version_from": pl.Int64(),
            "bronze_version_to": pl.Int64(),
            "bronze_rows": pl.Int64(),
            "silver_rows": pl.Int64(),
            "quarantined_rows": pl.Int64(),
            "duplicate_rows": pl.Int64(),
            "rule_counts": pl.String(),
            "reconciled": pl.Boolean(),
        },
        markers={BRONZE.key: "silver:bronze"},
    )
)
SILVER_TABLES = (QUARANTINE, SILVER, RUN_LOG)  # written in this order for every chunk: the run log last


# ---- gold -----------------------------------------------------------------------------------------------------
def _gold(
    name: str,
    row: str,
    schema: Mapping[str, pl.DataType],
    *,
    partition_by: tuple[str, ...] = (),
    quarantine: bool = False,
    retention: str | None = None,
) -> Table:
    """A gold table computed from silver (and, for quarantine counts, from silver/quarantine)."""
    markers = {SILVER.key: f"gold:{name}"} | ({QUARANTINE.key: f"gold:{name}:quarantine"} if quarantine else {})
    return register(
        Table(
            layer="gold",
            name=name,
            row=row,
            schema=schema,
            partition_by=partition_by,
            markers=markers,
            retention=retention,
        )
    )


DEVICE_HOURLY = _gold(
    "device_hourly",
    "one device × hour: additive partials the daily tables and health roll up",
    {
        "date": pl.Date(),
        "hour": UTC_TS,
        "home_id": pl.String(),
        "home_name": pl.String(),
        "device_id": pl.String(),
        "device_type": pl.String(),
        "location": pl.String(),
        "energy_uwh": pl.Int64(),
        "readings": pl.Int64(),
        "power_sum": pl.Float64(),
        "power_n": pl.Int64(),
        "power_max": pl.Float64(),
        "temperature_sum": pl.Float64(),
        "temperature_n": pl.Int64(),
        "temperature_min": pl.Float64(),
        "temperature_max": pl.Float64(),
        "online_minutes": pl.Int64(),
        "alerts": pl.Int64(),
        "anomalies": pl.Int64(),
        "warned": pl.Int64(),
        "errors": pl.Int64(),
        "first_seen": UTC_TS,
        "last_seen": UTC_TS,
        "last_online": UTC_TS,
    },
    partition_by=("date",),
)
QUALITY_HOURLY = _gold(
    "quality_hourly",
    "one hour × warn rule: the silver rows the rule flagged",
    {"date": pl.Date(), "hour": UTC_TS, "rule": pl.String(), "rows": pl.Int64()},
    partition_by=("date",),
)
TELEMETRY_1MIN = _gold(
    "telemetry_1min",
    "one minute × device: average temperature and power, energy, readings",
    {
        "minute": UTC_TS,
        "date": pl.Date(),
        "hour": pl.Int8(),
        "home_id": pl.String(),
        "device_id": pl.String(),
        "device_type": pl.String(),
        "avg_temperature_c": pl.Float64(),
        "avg_power_w": pl.Float64(),
        "energy_wh": pl.Float64(),
        "readings": pl.Int64(),
    },
    partition_by=("date", "hour"),  # the big one: replacing an hour rewrites only that hour's files
    retention="telemetry_1min_retention_days",
)
ALERTS = _gold(
    "alerts",
    "one alert (device-flagged or threshold breach) or anomaly of an event, by kind",
    {
        "alert_time": UTC_TS,
        "date": pl.Date(),
        "home_id": pl.String(),
        "device_id": pl.String(),
        "device_type": pl.String(),
        "kind": pl.String(),
        "value": pl.Float64(),
        "threshold": pl.Float64(),
        "severity": pl.String(),
        "event_id": pl.String(),
    },
    partition_by=("date",),
)
DAILY_ENERGY = _gold(
    "daily_energy_consumption",
    "one date × home × device: energy, cost, power, temperature, readings, uptime and alerts",
    {
        "date": pl.Date(),
        "home_id": pl.String(),
        "device_id": pl.String(),
        "device_type": pl.String(),
        "energy_kwh": pl.Float64(),
        "cost": pl.Float64(),
        "avg_power_w": pl.Float64(),
        "max_power_w": pl.Float64(),
        "avg_temperature_c": pl.Float64(),
        "min_temperature_c": pl.Float64(),
        "max_temperature_c": pl.Float64(),
        "readings": pl.Int64(),
        "uptime_pct": pl.Float64(),
        "alert_count": pl.Int64(),
    },
    partition_by=("date",),
)
DAILY_HOME = _gold(
    "daily_home_summary",
    "one date × home: energy, cost, active devices, health, alerts, events",
    {
        "date": pl.Date(),
        "home_id": pl.String(),
        "home_name": pl.String(),
        "total_energy_kwh": pl.Float64(),
        "total_cost": pl.Float64(),
        "active_devices": pl.Int64(),
        "avg_health_score": pl.Float64(),
        "alerts": pl.Int64(),
        "events": pl.Int64(),
    },
)
DAILY_BUSINESS = _gold(
    "daily_business_summary",
    "one date: the fleet's energy, cost, devices, health, alerts, events and quarantined events",
    {
        "date": pl.Date(),
        "total_energy_kwh": pl.Float64(),
        "total_cost": pl.Float64(),
        "active_devices": pl.Int64(),
        "avg_health_score": pl.Float64(),
        "alerts": pl.Int64(),
        "events": pl.Int64(),
        "quarantined_events": pl.Int64(),
    },
    quarantine=True,
)
DATA_QUALITY_DAILY = _gold(
    "data_quality_daily",
    "one date × rule × action: rows silver flagged or quarantined",
    {"date": pl.Date(), "rule": pl.String(), "action": pl.String(), "rows": pl.Int64()},
    quarantine=True,
)
MONTHLY_BILLING = _gold(
    "monthly_billing",
    "one home × month: kWh, rate, energy cost, base charge and total",
    {
        "month": pl.Date(),
        "home_id": pl.String(),
        "energy_kwh": pl.Float64(),
        "rate_per_kwh": pl.Float64(),
        "energy_cost": pl.Float64(),
        "base_charge": pl.Float64(),
        "total": pl.Float64(),
        "currency": pl.String(),
    },
)
DEVICE_HEALTH = _gold(
    "device_health_metrics",
    "one device: uptime, alert/anomaly/quality rates, last seen, health "
    "score, failure risk and status over the trailing window",
    {
        "device_id": pl.String(),
        "device_type": pl.String(),
        "home_id": pl.String(),
        "home_name": pl.String(),
        "latitude": pl.Float64(),
        "longitude": pl.Float64(),
        "location": pl.String(),
        "readings": pl.Int64(),
        "uptime_pct": pl.Float64(),
        "alert_rate": pl.Float64(),
        "anomaly_rate": pl.Float64(),
        "data_quality_rate": pl.Float64(),
        "last_seen": UTC_TS,
        "health_score": pl.Float64(),
        "failure_risk": pl.Float64(),
        "status": pl.String(),
        "computed_at": UTC_TS,
    },
)

# ---- gold: the sentinel's live alert episodes (consumer/sentinel/) -----------------------------------------------
# Fed from Kafka like bronze: markers per topic-partition of the telemetry topic, in the same commit as the rows.
ALERT_EPISODES = register(
    Table(
        layer="gold",
        name="alert_episodes",
        row="one state change (open, update, resolve) of an alert episode",
        schema={
            "change_id": pl.String(),
            "episode_id": pl.String(),
            "severity": pl.String(),
            "device_id": pl.String(),
            "kind": pl.String(),
            "home_id": pl.String(),
            "device_type": pl.String(),
            "change": pl.String(),
            "started_at": UTC_TS,
            "changed_at": UTC_TS,
            "resolved_at": UTC_TS,
            "value": pl.Float64(),
            "peak": pl.Float64(),
            "threshold": pl.Float64(),
            "event_id": pl.String(),
            "bucket": pl.Int64(),
            "batch": pl.Int64(),
            "recorded_at": UTC_TS,
        },
        markers={KAFKA: "sentinel:{topic}:{partition}"},
    )
)
SENTINEL_STATE = register(
    Table(
        layer="gold",
        name="sentinel_state",
        row="one carried condition (device × kind) or one device's last reading: "
        "the sentinel's state as of the offsets its markers record",
        schema={
            "device_id": pl.String(),
            "kind": pl.String(),
            "home_id": pl.String(),
            "device_type": pl.String(),
            "run_start": UTC_TS,
            "opened": pl.Boolean(),
            "peak": pl.Float64(),
            "last_bucket": pl.Int64(),
            "last_seen": UTC_TS,
            "silent_since": UTC_TS,
        },
        markers={KAFKA: "sentinel-state:{topic}:{partition}"},
    )
)

# ---- system: coordination between the processes sharing the lake (lake/lease.py) --------------------------------
# Every acquisition, renewal and release is one commit (one tiny file each, every third of ETL_LEASE_TTL_S while
# held): the log checkpoints every 10 commits and drops entries older than 10 minutes at each checkpoint, and
# maintenance vacuums the replaced files after an hour (only the newest version is ever read).
LEASES = register(
    Table(
        layer="system",
        name="leases",
        row="one lease (today only `etl`: who runs silver and gold): its holder and until when",
        schema={
            "name": pl.String(),
            "owner": pl.String(),
            "acquired_at": UTC_TS,
            "expires_at": UTC_TS,
            "renewals": pl.Int64(),
            "released": pl.Boolean(),
        },
        markers={"lease": "lease:{name}"},
        configuration={"delta.checkpointInterval": "10", "delta.logRetentionDuration": "interval 10 minutes"},
        vacuum_hours=1.0,
    )
)
