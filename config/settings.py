"""The one settings object: typed, frozen, read from the environment and an optional `.env`.

Every environment variable the project reads is declared here, once, in `Settings`' fields.
Build it once per entry point with `Settings.from_env()` and pass it down.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from config.errors import ConfigError, LakeError
from config.location import Location, is_uri

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
_LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")


def _setting(
    default: Any, env: str, doc: str, *, parse: Callable[[str], Any] | None = None, secret: bool = False
) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc, "parse": parse, "secret": secret})


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if value < lo or (hi is not None and value > hi):
            raise ValueError
        return value

    parse.accepted = f"an integer {lo}..{hi}" if hi is not None else f"an integer >= {lo}"  # type: ignore[attr-defined]
    return parse


def _float(lo: float, hi: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not (value >= lo and (hi is None or value <= hi)):
            raise ValueError
        return value

    parse.accepted = f"a number {lo}..{hi}" if hi is not None else f"a number >= {lo}"  # type: ignore[attr-defined]
    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in options:
            raise ValueError
        return value

    parse.accepted = "one of " + ", ".join(options)  # type: ignore[attr-defined]
    return parse


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError
    return value


_text.accepted = "a non-empty string"  # type: ignore[attr-defined]


def _optional_text(raw: str) -> str:
    return raw.strip()


_optional_text.accepted = "a string"  # type: ignore[attr-defined]


def _path(raw: str) -> Path:
    value = _text(raw)
    if is_uri(value):  # Path("s3://b/x") is the local folder "s3:/b/x"
        raise ValueError
    return Path(value)


_path.accepted = "a local path"  # type: ignore[attr-defined]


def _lake(raw: str) -> Location:
    return Location.parse(_text(raw))


_lake.accepted = "a local folder or s3://bucket[/prefix]"  # type: ignore[attr-defined]


def _flag(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("", "true", "false"):
        raise ValueError
    return value


_flag.accepted = "true or false"  # type: ignore[attr-defined]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's rule for bucket names


def _bucket(raw: str) -> str:
    value = raw.strip()
    if not _BUCKET.fullmatch(value) or ".." in value:
        raise ValueError
    return value


_bucket.accepted = "an S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)"  # type: ignore[attr-defined]

_PARSERS: dict[str, Callable[[str], Any]] = {"str": _text, "Path": _path}

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _optional_choice(*options: str) -> Callable[[str], str]:
    parse = _choice(*options)

    def optional(raw: str) -> str:
        return parse(raw) if raw.strip() else ""

    optional.accepted = "empty or " + parse.accepted  # type: ignore[attr-defined]
    return optional


_KAFKA_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")  # Kafka's rule for topic names; group ids follow it here too


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every knob of the platform; `Settings.from_env()` reads them, `describe()` prints them."""

    # Kafka
    kafka_bootstrap_servers: str = _setting(
        "localhost:9092", "KAFKA_BOOTSTRAP_SERVERS", "Kafka bootstrap servers, host:port[,host:port]"
    )
    telemetry_topic: str = _setting("smart_home.telemetry", "TELEMETRY_TOPIC", "topic the devices publish to")
    telemetry_partitions: int = _setting(
        6, "TELEMETRY_PARTITIONS", "partitions of the telemetry topic when created", parse=_int(1, 1000)
    )
    producer_delivery_timeout_s: float = _setting(
        120.0,
        "PRODUCER_DELIVERY_TIMEOUT_S",
        "producer: a record not acknowledged this long after it is sent has failed (Kafka delivery.timeout.ms)",
        parse=_float(5.0),
    )
    producer_stop_timeout_s: float = _setting(
        10.0,
        "PRODUCER_STOP_TIMEOUT_S",
        "producer: after SIGTERM, wait at most this long for records in flight",
        parse=_float(0.0),
    )
    bronze_consumer_group: str = _setting(
        "bronze-ingest", "BRONZE_CONSUMER_GROUP", "consumer group of the bronze ingest"
    )
    kafka_version: str = _setting(
        "4.4.0", "KAFKA_VERSION", "Apache Kafka version the local broker runs (without Docker)"
    )
    kafka_home: Path = _setting(Path(".kafka"), "KAFKA_HOME", "cache of broker jars, data and logs of the local broker")
    # Kafka cluster and client security (README "Kafka"; every client gets these through common/kafka_io.client_config)
    kafka_local_brokers: int = _setting(
        1, "KAFKA_LOCAL_BROKERS", "nodes of the local KRaft cluster (scripts/kafka_local.sh)", parse=_int(1, 9)
    )
    kafka_replication_factor: int = _setting(
        1,
        "KAFKA_REPLICATION_FACTOR",
        "replicas of each topic ensure_topic creates (3 on a 3-broker cluster)",
        parse=_int(1, 32),
    )
    kafka_min_insync_replicas: int = _setting(
        1,
        "KAFKA_MIN_INSYNC_REPLICAS",
        "min.insync.replicas of the topics ensure_topic creates (2 with RF 3)",
        parse=_int(1, 32),
    )
    kafka_security_protocol: str = _setting(
        "",
        "KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (empty: SASL_PLAINTEXT with a SASL user, else PLAINTEXT)",
        parse=_optional_choice(*SECURITY_PROTOCOLS),
    )
    kafka_sasl_mechanism: str = _setting(
        "PLAIN", "KAFKA_SASL_MECHANISM", "SASL mechanism", parse=_choice(*SASL_MECHANISMS)
    )
    kafka_sasl_username: str = _setting("", "KAFKA_SASL_USERNAME", "SASL user (empty: no SASL)", parse=_optional_text)
    kafka_sasl_password: str = _setting("", "KAFKA_SASL_PASSWORD", "SASL password", parse=_optional_text, secret=True)
    kafka_ssl_cafile: str = _setting(
        "",
        "KAFKA_SSL_CAFILE",
        "TLS: CA certificate(s) (PEM) the brokers' certificates are checked against",
        parse=_optional_text,
    )
    kafka_ssl_certfile: str = _setting(
        "", "KAFKA_SSL_CERTFILE", "TLS: client certificate (PEM), when the brokers require one", parse=_optional_text
    )
    kafka_ssl_keyfile: str = _setting(
        "", "KAFKA_SSL_KEYFILE", "TLS: the client certificate's private key (PEM)", parse=_optional_text
    )
    kafka_ssl_key_password: str = _setting(
        "", "KAFKA_SSL_KEY_PASSWORD", "TLS: password of an encrypted private key", parse=_optional_text, secret=True
    )
    # Local S3-compatible server (scripts/object_store.sh; optional: the lake stays a local folder by default)
    object_store_version: str = _setting(
        "v0.0.0-20261109003541-7506e5f91cd6",
        "OBJECT_STORE_VERSION",
        "SeaweedFS module version the local S3 server is built from (Go module proxy)",
    )
    object_store_home: Path = _setting(
        Path(".objectstore"), "OBJECT_STORE_HOME", "cache of the S3 server binary, credentials, data and logs"
    )
    object_store_port: int = _setting(
        8333,
        "OBJECT_STORE_PORT",
        "S3 port of the local server; it also uses the next 7 ports on 127.0.0.1",
        parse=_int(1, 65528),
    )
    object_store_bucket: str = _setting(
        "lakehouse", "OBJECT_STORE_BUCKET", "bucket the local S3 server creates at start", parse=_bucket
    )
    # Reading the lake with Apache Spark (scripts/spark_reader.sh; pyspark and delta-spark come with the test extra)
    spark_jars_home: Path = _setting(
        Path(".spark"), "SPARK_JARS_HOME", "cache of the Delta Lake jars Spark reads the lake with (Maven Central)"
    )
    # Lake
    lake_root: Location = _setting(
        Location("data"), "LAKE_ROOT", "where the Delta Lake tables are: a folder, or s3://bucket/prefix", parse=_lake
    )
    state_dir: str = _setting(
        "",
        "STATE_DIR",
        "local folder for what is not lake data (the producer's state); "
        "empty: the lake folder, or .lakehouse in the working directory when the lake is on S3",
        parse=_optional_text,
    )
    # Object storage (LAKE_ROOT=s3://…): the standard AWS variables, as delta-rs and every S3 client read them
    aws_endpoint_url: str = _setting(
        "", "AWS_ENDPOINT_URL", "S3 endpoint, e.g. http://127.0.0.1:8333 (empty: AWS itself)", parse=_optional_text
    )
    aws_access_key_id: str = _setting("", "AWS_ACCESS_KEY_ID", "S3 access key id", parse=_optional_text)
    aws_secret_access_key: str = _setting(
        "", "AWS_SECRET_ACCESS_KEY", "S3 secret access key", parse=_optional_text, secret=True
    )
    aws_region: str = _setting("", "AWS_REGION", "S3 region (signing scope), e.g. us-east-1", parse=_optional_text)
    aws_allow_http: str = _setting(
        "", "AWS_ALLOW_HTTP", "true: allow a plain-http AWS_ENDPOINT_URL (a local server)", parse=_flag
    )
    bronze_flush_records: int = _setting(
        250_000, "BRONZE_FLUSH_RECORDS", "bronze: flush after this many buffered records", parse=_int(1)
    )
    bronze_flush_seconds: float = _setting(
        2.0, "BRONZE_FLUSH_SECONDS", "bronze: flush after this many seconds", parse=_float(0.1)
    )
    bronze_flush_bytes: int = _setting(
        128 * 1024 * 1024, "BRONZE_FLUSH_BYTES", "bronze: flush after this many buffered bytes", parse=_int(1024)
    )
    vacuum_retention_hours: float = _setting(
        24.0,
        "VACUUM_RETENTION_HOURS",
        "maintenance: keep unreferenced files this long (safe for running readers)",
        parse=_float(1.0),
    )
    # ETL schedule
    silver_interval_s: float = _setting(
        10.0, "SILVER_INTERVAL_S", "scheduler: seconds between silver runs", parse=_float(1.0)
    )
    gold_interval_s: float = _setting(
        30.0, "GOLD_INTERVAL_S", "scheduler: seconds between gold runs", parse=_float(1.0)
    )
    maintenance_interval_s: float = _setting(
        3600.0, "MAINTENANCE_INTERVAL_S", "scheduler: seconds between maintenance runs", parse=_float(60.0)
    )
    etl_lease_ttl_s: float = _setting(
        30.0,
        "ETL_LEASE_TTL_S",
        "scheduler: the ETL lease lapses this long after its holder's last renewal (renewed every third of it)",
        parse=_float(1.0),
    )
    # Data quality
    max_future_skew_s: float = _setting(
        300.0, "MAX_FUTURE_SKEW_S", "silver: events further in the future than this are quarantined", parse=_float(0.0)
    )
    late_event_threshold_s: float = _setting(
        3600.0,
        "LATE_EVENT_THRESHOLD_S",
        "silver: events ingested later than this after their time are late",
        parse=_float(0.0),
    )
    rolling_window: int = _setting(
        5, "ROLLING_WINDOW", "silver: readings in the per-device rolling means", parse=_int(1, 1000)
    )
    # Energy and alerts
    tariff_per_kwh: float = _setting(0.30, "TARIFF_PER_KWH", "energy price per kWh", parse=_float(0.0))
    billing_base_charge: float = _setting(
        9.90, "BILLING_BASE_CHARGE", "fixed charge per home and month", parse=_float(0.0)
    )
    currency: str = _setting("EUR", "CURRENCY", "currency of cost and billing")
    anomaly_z_score: float = _setting(
        3.0,
        "ANOMALY_Z_SCORE",
        "gold: anomaly beyond median ± this many robust σ of the previous hour",
        parse=_float(0.5),
    )
    offline_after_s: float = _setting(
        300.0,
        "OFFLINE_AFTER_S",
        "gold: a device silent this long before the fleet's newest reading is offline",
        parse=_float(1.0),
    )
    health_window_hours: float = _setting(
        24.0,
        "HEALTH_WINDOW_HOURS",
        "gold: device health covers this many hours before the fleet's newest reading",
        parse=_float(0.1),
    )
    telemetry_1min_retention_days: int = _setting(
        7,
        "TELEMETRY_1MIN_RETENTION_DAYS",
        "gold: days of minute rows kept, counted back from the newest event date",
        parse=_int(1),
    )
    # Sentinel (live alert episodes, consumer/sentinel/)
    sentinel_consumer_group: str = _setting(
        "sentinel", "SENTINEL_CONSUMER_GROUP", "sentinel: its consumer group on the telemetry topic"
    )
    alerts_topic: str = _setting(
        "smart_home.alerts", "ALERTS_TOPIC", "sentinel: topic of episode state changes (key: device_id)"
    )
    sentinel_hold_s: float = _setting(
        5.0,
        "SENTINEL_HOLD_S",
        "sentinel: a condition must hold this long (event time) before its episode opens",
        parse=_float(0.0),
    )
    sentinel_expected_interval_s: float = _setting(
        1.0,
        "SENTINEL_EXPECTED_INTERVAL_S",
        "sentinel: seconds between a device's readings (the producer's --interval)",
        parse=_float(0.001),
    )
    sentinel_silence_factor: float = _setting(
        30.0,
        "SENTINEL_SILENCE_FACTOR",
        "sentinel: a device is silent after this many expected intervals without a reading",
        parse=_float(1.0),
    )
    sentinel_update_every_s: float = _setting(
        60.0,
        "SENTINEL_UPDATE_EVERY_S",
        "sentinel: an open episode gets an update record every this many seconds (event time)",
        parse=_float(1.0),
    )
    sentinel_state_every_s: float = _setting(
        10.0,
        "SENTINEL_STATE_EVERY_S",
        "sentinel: seconds between snapshots of its state (what a restart re-reads after)",
        parse=_float(0.5),
    )
    sentinel_idle_partition_s: float = _setting(
        10.0,
        "SENTINEL_IDLE_PARTITION_S",
        "sentinel: a partition without records this long stops holding back the silence clock",
        parse=_float(0.1),
    )
    webhook_url: str = _setting(
        "", "WEBHOOK_URL", "sentinel: POST each episode change as JSON here (empty: no webhook)", parse=_optional_text
    )
    webhook_timeout_s: float = _setting(
        2.0, "WEBHOOK_TIMEOUT_S", "sentinel: seconds per webhook attempt", parse=_float(0.1)
    )
    webhook_retries: int = _setting(
        3, "WEBHOOK_RETRIES", "sentinel: webhook retries after the first attempt, with backoff", parse=_int(0, 20)
    )
    # Dashboard and operations
    dashboard_refresh_s: float = _setting(
        10.0, "DASHBOARD_REFRESH_S", "dashboard: seconds between refreshes", parse=_float(1.0)
    )
    dashboard_port: int = _setting(8501, "DASHBOARD_PORT", "dashboard: HTTP port", parse=_int(1, 65535))
    dashboard_address: str = _setting(
        "127.0.0.1", "DASHBOARD_ADDRESS", "dashboard: address it listens on (0.0.0.0: every interface, no login)"
    )
    log_level: LogLevel = _setting("INFO", "LOG_LEVEL", "log level", parse=_choice(*_LOG_LEVELS))

    def __post_init__(self) -> None:
        # the lake's location carries the storage options delta-rs needs; a plain path (tests) becomes a location
        lake = self.lake_root.uri if isinstance(self.lake_root, Location) else os.fspath(self.lake_root)
        object.__setattr__(self, "lake_root", Location.parse(lake, storage_options=self.storage_options))

    @property
    def storage_options(self) -> dict[str, str]:
        """The AWS_* settings that are set, as delta-rs, polars and config.location take them."""
        names = ("aws_endpoint_url", "aws_access_key_id", "aws_secret_access_key", "aws_region", "aws_allow_http")
        return {name.upper(): getattr(self, name) for name in names if getattr(self, name)}

    @property
    def state_root(self) -> Path:
        """The local folder for what is not lake data: STATE_DIR, else the lake folder (or .lakehouse for S3)."""
        if self.state_dir:
            return Path(self.state_dir)
        return self.lake_root.local or Path(".lakehouse")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")) -> Settings:
        """Build settings from `environ` (default: os.environ) over an optional `.env` file."""
        values: dict[str, str] = _read_dotenv(dotenv) if dotenv is not None else {}
        values.update(os.environ if environ is None else environ)
        kwargs = {}
        for f in dataclasses.fields(cls):
            raw = values.get(f.metadata["env"])
            if raw is not None:
                kwargs[f.name] = _parse(f, raw)
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field checks; raise ConfigError with one line that says what to change."""
        if not _bootstrap_servers(self.kafka_bootstrap_servers):
            raise ConfigError(
                f"KAFKA_BOOTSTRAP_SERVERS={self.kafka_bootstrap_servers!r} is not valid: expected host:port[,host:port]"
            )
        _check_kafka_name("TELEMETRY_TOPIC", self.telemetry_topic)
        _check_kafka_name("BRONZE_CONSUMER_GROUP", self.bronze_consumer_group)
        _check_kafka_name("ALERTS_TOPIC", self.alerts_topic)
        _check_kafka_name("SENTINEL_CONSUMER_GROUP", self.sentinel_consumer_group)
        _check_lake_root(self.lake_root)
        _check_kafka_security(self)

    def describe(self) -> list[tuple[str, str, str]]:
        """(env name, value, doc) for every setting; secrets masked."""
        rows = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = "****" if f.metadata["secret"] and value else str(value)
            rows.append((f.metadata["env"], shown, f.metadata["doc"]))
        return rows

    def to_env(self) -> dict[str, str]:
        """Every setting as the environment variables that rebuild it (secrets included: for child processes)."""
        values = {f.metadata["env"]: str(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {env: value for env, value in values.items() if value}  # unset is the same as empty, and safer

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{env}={value}" for env, value, _ in self.describe()) + ")"

    __str__ = __repr__

    @property
    def bootstrap_servers(self) -> tuple[tuple[str, int], ...]:
        """Every bootstrap server as (host, port)."""
        return _bootstrap_servers(self.kafka_bootstrap_servers)

    @property
    def kafka_protocol(self) -> str:
        """The security protocol the clients speak (KAFKA_SECURITY_PROTOCOL, or what the SASL user implies)."""
        return self.kafka_security_protocol or ("SASL_PLAINTEXT" if self.kafka_sasl_username else "PLAINTEXT")

    @property
    def bootstrap_host_port(self) -> tuple[str, int]:
        """Host and port of the first bootstrap server."""
        return self.bootstrap_servers[0]


def _bootstrap_servers(raw: str) -> tuple[tuple[str, int], ...]:
    """`host:port[,host:port]` parsed; empty when any part is not host:port."""
    servers = []
    for server in raw.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            return ()
        servers.append((host.strip("[]"), int(port)))
    return tuple(servers)


def env_names() -> list[str]:
    """Every environment variable the settings read."""
    return [f.metadata["env"] for f in dataclasses.fields(Settings)]


def _check_kafka_name(env: str, value: str) -> None:
    if not _KAFKA_NAME.fullmatch(value) or value in (".", ".."):
        raise ConfigError(
            f"{env}={value!r} is not valid: expected 1 to 249 of the characters a-z A-Z 0-9 . _ - "
            "(and not '.' or '..'); change it in the environment or .env"
        )


def _check_kafka_security(settings: Settings) -> None:
    """The replication, TLS and SASL settings agree with each other and the files they name exist."""
    s, protocol = settings, settings.kafka_protocol
    if s.kafka_min_insync_replicas > s.kafka_replication_factor:
        _kafka_error(
            f"KAFKA_MIN_INSYNC_REPLICAS={s.kafka_min_insync_replicas} exceeds KAFKA_REPLICATION_FACTOR="
            f"{s.kafka_replication_factor}: no write could ever succeed; lower it"
        )
    tls = {
        "KAFKA_SSL_CAFILE": s.kafka_ssl_cafile,
        "KAFKA_SSL_CERTFILE": s.kafka_ssl_certfile,
        "KAFKA_SSL_KEYFILE": s.kafka_ssl_keyfile,
        "KAFKA_SSL_KEY_PASSWORD": s.kafka_ssl_key_password,
    }
    if protocol.endswith("SSL"):
        if not s.kafka_ssl_cafile:
            _kafka_error(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SSL_CAFILE, the CA certificate file (PEM)")
        if bool(s.kafka_ssl_certfile) != bool(s.kafka_ssl_keyfile):
            _kafka_error(
                "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together: set both (client certificate) or neither"
            )
        if s.kafka_ssl_key_password and not s.kafka_ssl_keyfile:
            _kafka_error(
                "KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEYFILE: set the key file or drop the password"
            )
        for env in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"):
            if tls[env] and not Path(tls[env]).is_file():
                _kafka_error(f"{env}={tls[env]!r} is not a file: point it at the PEM file")
    elif any(tls.values()):
        _kafka_error(
            f"KAFKA_SSL_* are set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: use SSL or SASL_SSL"
        )
    if protocol.startswith("SASL"):
        if not (s.kafka_sasl_username and s.kafka_sasl_password):
            _kafka_error(
                f"KAFKA_SECURITY_PROTOCOL={protocol} with {s.kafka_sasl_mechanism} needs KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            )
    elif s.kafka_sasl_username or s.kafka_sasl_mechanism != "PLAIN":
        _kafka_error(
            f"SASL is configured but KAFKA_SECURITY_PROTOCOL={protocol} does not use it: use SASL_SSL or SASL_PLAINTEXT"
        )


def _kafka_error(message: str) -> NoReturn:
    raise ConfigError(f"{message} (in the environment or .env)")


def _check_lake_root(lake: Location) -> None:
    """LAKE_ROOT must be a folder this user can write, or one it can create (a missing lake is fine: the first
    writer creates it, and readers such as the status report work before that); on S3, a bucket the endpoint and
    credentials can list."""
    if lake.local is None:
        try:
            lake.check()
        except LakeError as exc:
            raise ConfigError(f"LAKE_ROOT={lake.uri!r} cannot be used: {exc}") from None
        return
    root = lake.local
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"LAKE_ROOT={str(root)!r} is not valid: {existing} is a file, not a folder; point LAKE_ROOT "
            "at a folder (it is created when missing)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "it is not writable" if existing == root else f"it cannot be created in {existing} (not writable)"
        raise ConfigError(
            f"LAKE_ROOT={str(root)!r} is not valid: {where}; point LAKE_ROOT at a folder this user can write"
        )


def _parse(f: dataclasses.Field, raw: str) -> Any:
    parse = f.metadata["parse"] or _PARSERS[f.type]
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(
            f"{f.metadata['env']}={raw!r} is not valid: expected {parse.accepted} ({f.metadata['doc']})"
        ) from None


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected NAME=value, got {line!r}")
        values[key.strip()] = value.strip().strip("'\"")
    return values
