"""The sentinel against the real broker and real Delta tables: the acceptance scenario, and a SIGKILL mid-episode."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from kafka import KafkaConsumer

from common.kafka_io import client_config, end_offsets, group_lag
from config.alert_rules import SENTINEL_KINDS
from config.settings import Settings
from consumer.bronze import ingest as bronze
from consumer.gold import run as gold
from consumer.sentinel import run as sentinel_run
from consumer.silver import run as silver
from lake import delta_io, tables
from producer import telemetry_sim
from tests.conftest import make_settings
from tests.consumer.sentinel import scenario
from tests.consumer.sentinel.test_webhook import Receiver
from tests.kafka_helpers import start_module, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel_settings(kafka_settings: Settings) -> Settings:
    suffix = kafka_settings.telemetry_topic.rsplit(".", 1)[-1]
    return make_settings(
        **{
            **kafka_settings.to_env(),
            "ALERTS_TOPIC": f"test.alerts.{suffix}",
            "SENTINEL_CONSUMER_GROUP": f"test-sentinel-{suffix}",
            "SENTINEL_STATE_EVERY_S": "1",
        }
    )


def replay(settings: Settings, folder: Path, *, seconds: range = range(scenario.SECONDS)) -> None:
    for name, rows, mapping in (
        ("env", scenario.env_rows(seconds), scenario.ENV_MAPPING),
        ("plug", scenario.plug_rows(seconds), scenario.PLUG_MAPPING),
    ):
        csv, toml = scenario.write(folder, f"{name}-{seconds.start}", rows, mapping)
        telemetry_sim.run(settings, replay=csv, replay_config=toml, speed=0)


def episodes(settings: Settings) -> pl.DataFrame:
    rows = delta_io.read(tables.ALERT_EPISODES.path(settings))
    return rows if not rows.is_empty() else pl.DataFrame(schema=tables.ALERT_EPISODES.schema)


def state_offsets(settings: Settings) -> int:
    """Records the state snapshot says it has judged (offsets + 1, summed)."""
    table = delta_io.open_table(tables.SENTINEL_STATE.path(settings))
    marker = tables.SENTINEL_STATE.marker(tables.KAFKA)
    return (
        sum(
            (delta_io.txn_version(table, marker.format(topic=settings.telemetry_topic, partition=p)) or -1) + 1
            for p in range(settings.telemetry_partitions)
        )
        if table
        else 0
    )


def topic_change_ids(settings: Settings) -> Counter[str]:
    consumer = KafkaConsumer(
        settings.alerts_topic,
        **client_config(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    ids = Counter(dict(record.headers)["change_id"].decode() for record in consumer)
    consumer.close()
    return ids


def judge_all(settings: Settings) -> pl.DataFrame:
    """Run the sentinel in this process until it has judged every record of the topic; its changes."""
    total = sum(end_offsets(settings, settings.telemetry_topic).values())
    stop = threading.Event()
    thread = threading.Thread(target=sentinel_run.run, args=(settings,), kwargs={"stop_event": stop})
    thread.start()
    try:
        wait_for(lambda: state_offsets(settings) == total, timeout_s=90, what="the sentinel to judge all")
    finally:
        stop.set()
        thread.join(30)
    return episodes(settings)


def test_replayed_scenario_yields_exactly_the_expected_episodes(sentinel_settings: Settings, tmp_path: Path) -> None:
    receiver = Receiver(failures=1)  # the webhook's first POST fails and is retried
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    replay(sentinel_settings, tmp_path)
    changes = judge_all(
        dataclasses.replace(sentinel_settings, webhook_url=f"http://127.0.0.1:{receiver.server_port}/hook")
    )
    receiver.shutdown()
    assert sorted(b["change_id"] for b in receiver.bodies) == sorted(changes["change_id"])
    assert scenario.observed(changes) == scenario.EXPECTED  # the constant device yields nothing
    resolved = changes.filter(change="resolve").select("device_id", "resolved_at").sort("device_id").rows()
    assert resolved == [("env-co", scenario.at(160)), ("env-silent", scenario.at(400)), ("plug-1", scenario.at(360))]
    assert changes["change_id"].is_unique().all()
    assert topic_change_ids(sentinel_settings).keys() == set(changes["change_id"])
    lag = group_lag(sentinel_settings, sentinel_settings.telemetry_topic, sentinel_settings.sentinel_consumer_group)
    assert sum(p.lag for p in lag) == 0  # its offsets reach Kafka too, for the lag shown in the dashboard


@pytest.mark.parametrize("before_any_snapshot", [False, True])
def test_sigkill_mid_episode_loses_and_duplicates_nothing(
    sentinel_settings: Settings, tmp_path: Path, before_any_snapshot: bool
) -> None:
    log = tmp_path / "sentinel.log"
    replay(sentinel_settings, tmp_path, seconds=range(200))  # the plug's episode is open, with two updates
    proc = start_module("consumer.sentinel", sentinel_settings, log=log)
    wait_for(
        lambda: episodes(sentinel_settings).filter(change="update").height == 2,
        timeout_s=90,
        what="the open episode and its updates",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    if before_any_snapshot:  # as if killed before its first snapshot: every committed change is recomputed
        shutil.rmtree(tables.SENTINEL_STATE.path(sentinel_settings), ignore_errors=True)
    replay(sentinel_settings, tmp_path, seconds=range(200, scenario.SECONDS))
    proc = start_module("consumer.sentinel", sentinel_settings, log=log)
    try:
        wait_for(
            lambda: episodes(sentinel_settings).filter(change="resolve").height == 3,
            timeout_s=90,
            what="every episode resolved after the restart",
        )
        total = sum(end_offsets(sentinel_settings, sentinel_settings.telemetry_topic).values())
        wait_for(lambda: state_offsets(sentinel_settings) == total, timeout_s=60, what="all records judged")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, log.read_text()
    changes = episodes(sentinel_settings)
    assert scenario.observed(changes) == scenario.EXPECTED
    assert changes["change_id"].is_unique().all()
    assert topic_change_ids(sentinel_settings).keys() == set(changes["change_id"])  # at least once each
    if before_any_snapshot:
        assert "re-publishing 5 episode changes" in log.read_text()  # sent again: none may have reached the topic


def test_gold_alerts_and_sentinel_episodes_agree(sentinel_settings: Settings, tmp_path: Path) -> None:
    """On the same readings, for the watched kinds (docs/sentinel.md, "Gold and the sentinel agree"): every gold
    alert row lies inside an episode of its device and kind, every episode holds at least one such row, and its
    first row is the episode's start."""
    replay(sentinel_settings, tmp_path)
    changes = judge_all(sentinel_settings)
    total = sum(end_offsets(sentinel_settings, sentinel_settings.telemetry_topic).values())
    bronze.run(sentinel_settings, max_records=total, idle_exit_s=30)
    silver.run(sentinel_settings)
    gold.run(sentinel_settings, full=True)
    alerts = delta_io.read(tables.ALERTS.path(sentinel_settings)).filter(pl.col("kind").is_in(SENTINEL_KINDS))
    spans = (
        changes.filter(pl.col("kind").is_in(SENTINEL_KINDS))
        .group_by("episode_id")
        .agg(pl.col("device_id", "kind", "started_at").first(), ended=pl.col("resolved_at").max())
    )
    inside = alerts.join(spans, on=["device_id", "kind"], how="left").filter(
        (pl.col("alert_time") >= pl.col("started_at"))
        & (pl.col("ended").is_null() | (pl.col("alert_time") < pl.col("ended")))
    )
    assert inside["event_id"].sort().to_list() == alerts["event_id"].sort().to_list()  # each row in an episode
    per_episode = inside.group_by("episode_id").agg(
        rows=pl.len(), first=pl.col("alert_time").min(), start=pl.col("started_at").first()
    )
    assert set(per_episode["episode_id"]) == set(spans["episode_id"])  # every episode holds rows
    assert (per_episode["first"] == per_episode["start"]).all()
    assert sorted(inside.group_by("kind").len().rows()) == [("high_co", 40), ("high_power", 300)]
