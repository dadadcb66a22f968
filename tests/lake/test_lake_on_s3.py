"""The whole lake on a real S3 server (SeaweedFS): every stage, maintenance, status and the dashboard's reads with
LAKE_ROOT=s3://…, giving the same numbers as the same run on a local folder; and the AWS_* settings."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from common.clock import ManualClock
from config.errors import ConfigError
from config.settings import Settings
from consumer import maintenance
from consumer.bronze import gaps, ingest
from consumer.gold import run as gold_run
from consumer.gold.sample import gold
from consumer.scheduler import LogWatcher
from consumer.silver import run as silver_run
from dashboard import data
from lake import delta_io, repair, tables
from lake.lease import Lease, LeaseHeldError, read_lease
from ops import status
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import encode, plug_event
from tests.kafka_helpers import env_of, produce_raw

pytestmark = pytest.mark.integration

EVENTS, BROKEN = 900, 7
CLOCK = ManualClock(datetime(2026, 11, 24, tzinfo=UTC))


def s3_settings(object_store, tmp_path: Path, **env: str) -> Settings:
    """Settings for a fresh lake under a new prefix of the test bucket, from the AWS_* variables alone."""
    return make_settings(
        LAKE_ROOT=f"s3://{object_store.bucket}/{uuid.uuid4().hex}/lake",
        STATE_DIR=tmp_path / "state",
        **object_store.storage_options(),
        **env,
    )


def _run_pipeline(settings: Settings) -> dict[str, object]:
    """Bronze ingest (real broker), silver, gold, maintenance, status and the dashboard's reads; what each gave."""
    ingest.run(settings, max_records=EVENTS + BROKEN, idle_exit_s=30)
    silver = silver_run.run(settings, clock=CLOCK)
    gold_run.run(settings, clock=CLOCK)
    maintained = maintenance.run(settings)
    checks = status.checks(settings)
    lake_checks = {c.name: (c.healthy, c.detail) for c in checks if "/" in c.name or c.name == "bronze gaps"}
    assert all(healthy for healthy, _ in lake_checks.values()), lake_checks
    overview = data.lake_overview(settings)
    assert overview.get_column("error").is_null().all(), overview
    bronze = delta_io.read(tables.BRONZE.path(settings), columns=["partition", "offset", "value"])
    return {
        "bronze": bronze.sort("partition", "offset"),
        "silver rows": silver.silver_rows,
        "silver": delta_io.read(tables.SILVER.path(settings), columns=["event_id", "power_w"]).sort("event_id"),
        "quarantine": delta_io.read(tables.QUARANTINE.path(settings)).height,
        "gold": {t.name: gold(settings, t.name).drop("computed_at", strict=False) for t in tables.all_tables("gold")},
        "maintained": sorted(r.table for r in maintained),
        "status": sorted(name for name, (_, detail) in lake_checks.items() if "not written" not in detail),
        "dashboard energy": data.read_table(settings, "daily_energy_consumption").sort("date", "device_id"),
        "dashboard rows": overview.select("table", "rows").sort("table"),
        "newest bronze": LogWatcher(tables.BRONZE.path(settings)).newest(),
        "bronze version": delta_io.open_table(tables.BRONZE.path(settings)).version(),
    }


def test_every_stage_gives_the_same_numbers_on_s3_as_on_a_local_folder(
    object_store, kafka_settings, tmp_path, monkeypatch
):
    monkeypatch.delenv("AWS_S3_ALLOW_UNSAFE_RENAME", raising=False)
    values = [encode(plug_event(n)) for n in range(EVENTS)] + [b"not json %d" % n for n in range(BROKEN)]
    produce_raw(kafka_settings, values)
    on_s3 = s3_settings(
        object_store,
        tmp_path,
        KAFKA_BOOTSTRAP_SERVERS=kafka_settings.kafka_bootstrap_servers,
        TELEMETRY_TOPIC=kafka_settings.telemetry_topic,
        BRONZE_CONSUMER_GROUP=f"{kafka_settings.bronze_consumer_group}-s3",
    )
    local, remote = _run_pipeline(kafka_settings), _run_pipeline(on_s3)

    assert local["bronze"].height == EVENTS + BROKEN and local["silver rows"] == EVENTS
    assert local["quarantine"] == BROKEN and local["gold"]["daily_energy_consumption"].height > 0
    for key in ("bronze", "silver", "dashboard energy", "dashboard rows"):
        assert_frame_equal(remote[key], local[key])
    for name, frame in local["gold"].items():
        assert_frame_equal(remote["gold"][name], frame, check_exact=False)
    for key in ("silver rows", "quarantine", "maintained", "status"):
        assert remote[key] == local[key], key
    assert remote["newest bronze"] == remote["bronze version"]
    # nothing of the S3 lake landed on the local disk: no folder named "s3:", producer state etc. under STATE_DIR
    assert not (REPO / "s3:").exists() and not Path("s3:").exists()
    uri = f"{on_s3.lake_root.uri}/bronze/telemetry"  # read back with delta-rs alone, from the bucket
    assert DeltaTable(uri, storage_options=object_store.storage_options()).count() == EVENTS + BROKEN


def test_secrets_are_masked_and_the_lake_location_carries_the_storage_options(object_store, tmp_path):
    settings = s3_settings(object_store, tmp_path)
    secret = object_store.storage_options()["AWS_SECRET_ACCESS_KEY"]
    shown = dict((env, value) for env, value, _ in settings.describe())
    assert shown["AWS_SECRET_ACCESS_KEY"] == "****" and shown["AWS_ENDPOINT_URL"] == object_store.endpoint
    assert secret not in repr(settings) and secret not in str(settings) and secret not in repr(settings.lake_root)
    assert secret not in repr(tables.BRONZE.path(settings))
    assert settings.to_env()["AWS_SECRET_ACCESS_KEY"] == secret  # child processes rebuild the same settings
    assert tables.BRONZE.path(settings).storage_options == object_store.storage_options()
    assert settings.state_root == tmp_path / "state"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"LAKE_ROOT": "s3://no-such-bucket/lake"}, "LAKE_ROOT: bucket 'no-such-bucket' does not exist at http://"),
        ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "refused access to bucket 'test-lake': check AWS_ACCESS_KEY_ID and "),
        ({"AWS_ACCESS_KEY_ID": "nobody"}, "refused access to bucket 'test-lake': check AWS_ACCESS_KEY_ID and "),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "AWS_ENDPOINT_URL=http://127.0.0.1:9 cannot be reached: check"),
    ],
)
def test_a_wrong_bucket_credential_or_endpoint_is_one_line_naming_the_setting(object_store, tmp_path, change, expected):
    env = {**object_store.storage_options(), "LAKE_ROOT": f"s3://{object_store.bucket}/lake", **change}
    with pytest.raises(ConfigError, match="^LAKE_ROOT='s3://") as raised:
        Settings.from_env(env, dotenv=None)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    result = subprocess.run(
        [sys.executable, "-m", "consumer.silver"],
        cwd=tmp_path,
        env=env_of(Settings(), PYTHONPATH=str(REPO), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr


def test_a_damaged_commit_on_s3_is_named_and_repaired(object_store, tmp_path):
    """lake.repair and the damage check read and replace commit files through the object store too."""
    settings = s3_settings(object_store, tmp_path)
    path = tables.GAPS.path(settings)
    gaps.record(path, [gaps.Gap("t", 0, 100, 149, "deleted")])
    gaps.record(path, [gaps.Gap("t", 1, 100, 149, "deleted")])
    version = delta_io.open_table(path).version()
    newest = path / "_delta_log" / f"{version:020d}.json"
    newest.write_bytes(b"")
    with pytest.raises(Exception, match=rf"gaps: commit file s3://.*{newest.name} is damaged \(empty\)"):
        delta_io.open_table(path)
    kept = repair.repair(settings, tables.GAPS)
    assert kept is not None and kept.read_bytes() == b""
    assert delta_io.read(path).height == 1 and delta_io.open_table(path).version() == version


def test_the_etl_lease_on_an_s3_lake_is_held_by_one_host_at_a_time(object_store, tmp_path):
    """The lease (lake/lease.py) uses only the registry and delta_io, so it lives in the S3 lake unchanged."""
    settings = s3_settings(object_store, tmp_path)
    first, second = Lease(settings, owner="host-a"), Lease(settings, owner="host-b")
    first.acquire()
    with pytest.raises(LeaseHeldError, match="host-a"):
        second.acquire()
    first.release()
    second.acquire()
    assert read_lease(settings).owner == "host-b"
    assert str(tables.LEASES.path(settings)).startswith(f"s3://{object_store.bucket}/")
