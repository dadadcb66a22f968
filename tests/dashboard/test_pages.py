"""Dashboard pages rendered with Streamlit's AppTest against fixture lakes: the numbers shown, and every empty state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from common import kafka_io
from config.settings import Settings
from consumer.bronze import gaps
from lake import delta_io, tables
from tests.conftest import make_settings
from tests.dashboard import fixtures as fx
from tests.dashboard.apptest import figures, metrics, page, run_app, table_with
from tests.kafka_helpers import produce_raw


def test_empty_lake_says_what_to_start(app_env: Path) -> None:
    at = run_app()
    assert "No data yet" in at.info[0].value and "./start.sh" in at.info[0].value
    assert not at.metric


def test_missing_lake_folder_is_an_empty_lake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "nowhere"))
    at = run_app()
    assert "No data yet" in at.info[0].value


def test_overview_kpis_are_the_fixture_sums_against_yesterday(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    shown = metrics(run_app())
    # day 2: 1.5 + 2.5 + 4.0 + 0.0 kWh; day 1: 1.0 + 2.0 + 3.0 + 0.5
    assert shown["Energy (kWh)"] == ("8.00", "1.50")
    assert shown["Cost (EUR)"] == ("2.40", "0.45")
    # d4 had no readings on day 2
    assert shown["Active devices"] == ("3", "-1")
    # health weighted by active devices: (85*2 + 40*1)/3 = 70.0 against (90*2 + 60*2)/4 = 75.0
    assert shown["Avg health"] == ("70.0", "-5.0")
    assert shown["Alerts"] == ("0", "0")  # this lake has no alerts table


def test_overview_filters_narrow_the_numbers(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    at = run_app()
    at.multiselect[0].set_value(["h2"]).run()
    shown = metrics(at)
    assert shown["Energy (kWh)"] == ("4.00", "0.50")
    assert shown["Avg health"] == ("40.0", "-20.0")
    at.multiselect[1].set_value(["security_camera"]).run()
    assert metrics(at)["Energy (kWh)"] == ("0.00", "-0.50")


def test_overview_charts_hold_the_fixture_values(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    charts = figures(run_app())
    assert set(charts) >= {
        "Energy by device type (kWh)",
        "Health score vs failure risk",
        "Devices operational (healthy + attention)",
        "Homes by worst device status",
        "Temperature, last 60 min",
        "Power, last 60 min",
    }
    bar = charts["Energy by device type (kWh)"]["data"][0]
    assert dict(zip(bar["x"], bar["y"], strict=True)) == {
        "energy_meter": 7.0,
        "smart_plug": 4.5,
        "thermostat": 2.5,
        "security_camera": 0.5,
    }
    gauge = charts["Devices operational (healthy + attention)"]["data"][0]
    assert gauge["value"] == 50.0
    homes = charts["Homes by worst device status"]["data"]
    assert {t["name"]: len(t["lat"]) for t in homes} == {"attention": 1, "critical": 1}


def test_one_row_tables_render_without_yesterday(app_env: Path) -> None:
    fx.one_row_lake(make_settings(LAKE_ROOT=app_env))
    shown = metrics(run_app())
    assert shown["Energy (kWh)"] == ("2.50", "")
    assert shown["Active devices"] == ("1", "")


def test_every_page_says_no_data_on_an_empty_lake(app_env: Path) -> None:
    for name in ("overview", "devices", "alerts"):
        at = page(name)
        assert "No data yet" in at.info[0].value, name
        assert not at.error
    at = page("pipeline")
    assert "No lake tables yet" in at.info[0].value
    assert "Kafka broker not reachable at 127.0.0.1:1" in page("kafka").warning[0].value


def test_devices_table_sorted_by_health_and_device_details(app_env: Path) -> None:
    fx.quarantine_lake(make_settings(LAKE_ROOT=app_env))
    at = page("devices")
    table = table_with(at, "device_id", "health_score")
    assert table["device_id"].tolist() == ["d3", "d4", "d2", "d1"]
    assert table["health_score"].tolist() == [35.0, 50.0, 70.0, 95.0]
    shown = metrics(at)
    assert shown["Status"][0] == "critical" and shown["Health"][0] == "35.0" and shown["Failure risk"][0] == "0.80"
    at.selectbox(key="device_pick").set_value("d2").run()
    assert metrics(at)["Status"][0] == "attention"
    daily = figures(at)["Energy per day (kWh)"]["data"][0]
    assert daily["y"] == [2.0, 2.5]
    alerts = table_with(at, "kind", "severity")
    assert alerts["kind"].tolist() == ["high_power", "anomaly_power_w"]
    assert not at.error


def test_a_device_on_a_lake_without_an_alerts_table(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))  # gold written, but no alert ever
    at = page("devices")
    assert not at.exception and not at.error
    assert "No alerts for this device in the selected dates." in [i.value for i in at.info]


def test_alerts_counts_by_severity_newest_first_and_csv(app_env: Path) -> None:
    fx.quarantine_lake(make_settings(LAKE_ROOT=app_env))
    at = page("alerts")
    assert {k: v[0] for k, v in metrics(at).items()} == {"Critical": "1", "Warning": "1", "Info": "1"}
    table = table_with(at, "kind", "severity")
    assert table["device_id"].tolist() == ["d3", "d2", "d2"]
    assert table["severity"].tolist() == ["critical", "warning", "info"]
    csv = at.get("download_button")[0].proto
    assert csv.label == "Download alerts (CSV)"
    at.multiselect(key="alert_kinds").set_value(["high_power"]).run()
    assert {k: v[0] for k, v in metrics(at).items()} == {"Critical": "0", "Warning": "1", "Info": "0"}


def test_alerts_page_without_alerts_table(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    at = page("alerts")
    assert "No data yet: no alerts" in at.info[0].value


def test_pipeline_lake_quality_reconciliation_with_broker_down(app_env: Path) -> None:
    fx.quarantine_lake(make_settings(LAKE_ROOT=app_env))
    at = page("pipeline")
    lake = table_with(at, "table", "consumed_version").set_index("table")
    assert lake.loc["gold/alerts", "rows"] == 3 and lake.loc["gold/alerts", "version"] == 1  # 0: created empty
    assert lake.loc["gold/telemetry_1min", "rows"] == 180
    assert lake.loc["gold/alerts", "consumed_version"] == 3
    assert lake["version"].isna()["bronze/telemetry"]
    totals = table_with(at, "rule", "rows")
    assert dict(zip(totals["rule"], totals["rows"], strict=True)) == {"invalid_json": 8, "unknown_device": 2}
    shown = metrics(at)
    assert shown["Bronze rows"][0] == "1,001" and shown["Quarantined"][0] == "9" and shown["Reconciled"][0] == "yes"
    rules = table_with(at, "rule", "rows_in_run")
    assert dict(zip(rules["rule"], rules["rows_in_run"], strict=True)) == {"invalid_json": 6, "unknown_device": 3}
    assert not at.error


def test_refresh_rereads_only_tables_whose_version_changed(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(LAKE_ROOT=app_env)
    fx.normal_lake(settings)
    at = run_app()
    reads: list[str] = []
    original = DeltaTable.get_add_actions

    def counting(self: DeltaTable, *args: object, **kwargs: object) -> object:
        reads.append(self.table_uri)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "get_add_actions", counting)
    at.run()
    assert reads == []
    assert metrics(at)["Energy (kWh)"] == ("8.00", "1.50")
    extra = [{**fx.energy_rows()[-1], "device_id": "d5", "energy_kwh": 2.0, "readings": 10}]
    fx.write_gold(settings, "daily_energy_consumption", extra)
    at.run()
    assert {Path(uri).name for uri in reads} == {"daily_energy_consumption"}
    assert metrics(at)["Energy (kWh)"] == ("10.00", "3.50")
    assert metrics(at)["Active devices"] == ("4", "0")
    bar = figures(at)["Energy by device type (kWh)"]["data"][0]
    assert dict(zip(bar["x"], bar["y"], strict=True))["security_camera"] == 2.5


@pytest.mark.integration
def test_kafka_page_topics_groups_and_message_browser(
    kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, group = kafka_settings.telemetry_topic, kafka_settings.bronze_consumer_group
    produce_raw(
        kafka_settings,
        [f"m{i}".encode() for i in range(30)],
        keys=[b"same-key"] * 30,
        headers=[[("source", f"s{i % 3}".encode())] for i in range(30)],
    )
    ends = {p: end for p, end in kafka_io.end_offsets(kafka_settings, topic).items() if end}
    ((partition, end),) = ends.items()
    consumer = KafkaConsumer(**kafka_io.client_config(kafka_settings), group_id=group, enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, partition): OffsetAndMetadata(12, "", -1)})
    consumer.close()
    for name, value in kafka_settings.to_env().items():
        monkeypatch.setenv(name, value)
    at = page("kafka")
    topics = table_with(at, "topic", "replication_factor").set_index("topic")
    assert topics.loc[topic, "partitions"] == kafka_settings.telemetry_partitions
    assert topics.loc[topic, "messages"] == 30 and topics.loc[topic, "replication_factor"] == 1
    parts = table_with(at, "partition", "in_sync").set_index("partition")
    assert parts.loc[partition, "end_offset"] == 30 and parts.loc[partition, "replicas"] == "1"
    config = table_with(at, "name", "source").set_index("name")
    assert config.loc["cleanup.policy", "value"] == "delete" and config.loc["cleanup.policy", "source"] == "default"
    assert config.index[0] == "cleanup.policy"  # the settings that decide about loss come first
    groups = table_with(at, "group", "state").set_index("group")
    assert groups.loc[group, "members"] == 0  # committed offsets, nobody consuming now
    assert metrics(at)[f"Lag of {group} on {topic}"][0] == "18"
    lag = table_with(at, "partition", "lag").set_index("partition")
    assert lag.loc[partition, "committed"] == 12 and lag.loc[partition, "lag"] == 18

    at.selectbox(key="kafka_partition").set_value(partition).run()
    messages = table_with(at, "offset", "value")
    assert messages["value"].tolist() == [f"m{i}" for i in range(29, 9, -1)]
    assert messages["key"].unique().tolist() == ["same-key"] and messages["headers"].iloc[0] == "source=s2"
    at.text_input(key="kafka_text").set_value("m1").run()  # m1, m10..m19
    assert table_with(at, "offset", "value")["value"].tolist() == [f"m{i}" for i in range(19, 9, -1)] + ["m1"]
    at.text_input(key="kafka_text").set_value("").run()
    at.selectbox(key="kafka_start").set_value("offset").run()
    at.number_input(key="kafka_offset").set_value(25).run()
    assert table_with(at, "offset", "value")["offset"].tolist() == [25, 26, 27, 28, 29]
    at.text_input(key="kafka_key").set_value("other").run()
    assert "matches" in at.info[0].value
    assert not at.error


def test_monthly_billing_table_on_the_overview(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    billing = table_with(run_app(), "month", "total")
    assert billing["home_id"].tolist() == ["h1", "h2"] and billing["total"].tolist() == [11.4, 11.4]
    assert billing["home_name"].tolist() == ["Home One", "Home Two"] and billing["month"].tolist() == ["2026-11"] * 2


def test_invalid_setting_is_one_friendly_error(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_REFRESH_S", "soon")
    at = run_app(errors_expected=True)
    assert "DASHBOARD_REFRESH_S='soon' is not valid" in at.error[0].value


def test_a_broken_table_is_one_message_and_other_pages_work(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    log = app_env / "gold" / "alerts" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("this is not a delta log\n")
    at = run_app("views/alerts.py", errors_expected=True)
    message = at.error[0].value
    assert f"gold/alerts: commit file {log / '00000000000000000000.json'} is damaged (cut or unparsable" in message
    assert "restore it" in message and "\n" not in message
    overview = run_app(errors_expected=True)
    assert metrics(overview)["Energy (kWh)"][0] == "8.00" and metrics(overview)["Alerts"][0] == "–"
    assert "The Alerts card is empty" in overview.warning[0].value and not overview.error


def test_a_damaged_commit_file_errors_the_views_that_read_it_and_the_others_work(app_env: Path) -> None:
    fx.normal_lake(make_settings(LAKE_ROOT=app_env))
    log = app_env / "gold" / "daily_energy_consumption" / "_delta_log"
    newest = max(log.glob("*.json"))
    newest.write_text(newest.read_text().splitlines()[0] + "\n")  # cut after its first line: data and marker lost
    pipeline = run_app("views/pipeline.py", errors_expected=True)
    messages = [e.value for e in pipeline.error]
    assert len(messages) == 1 and f"commit file {newest} is damaged (cut: holds 0 of the" in messages[0]  # sidebar
    lake = table_with(pipeline, "table", "consumed_version").set_index("table")
    assert "is damaged" in lake.loc["gold/daily_energy_consumption", "error"]
    assert lake.loc["gold/telemetry_1min", "rows"] == 180 and lake["error"].notna().sum() == 1
    overview = run_app(errors_expected=True)  # it reads the damaged table: it says so, once more than the sidebar
    assert [f"commit file {newest} is damaged" in e.value for e in overview.error] == [True, True]
    assert not overview.exception


def test_pipeline_page_shows_records_lost_at_the_source_and_no_plain_reconciled(app_env: Path) -> None:
    settings = make_settings(LAKE_ROOT=app_env)
    fx.quarantine_lake(settings)
    gaps.record(tables.GAPS.path(settings), [gaps.Gap("t", 2, 100, 349, "deleted")])
    at = run_app("views/pipeline.py", errors_expected=True)
    assert [e.value[:41] for e in at.error] == ["250 records lost at the source in 1 gaps:"]
    shown = table_with(at, "from_offset", "to_offset", "reason")
    assert shown[["partition", "from_offset", "to_offset", "records"]].values.tolist() == [[2, 100, 349, 250]]
    assert metrics(at)["Reconciled"][0] == "with gaps"


def episode_change(
    episode: str, change: str, *, device: str, kind: str, severity: str, start: datetime, changed: datetime, batch: int
) -> dict:
    return {
        "change_id": f"{episode}-{change}",
        "episode_id": episode,
        "severity": severity,
        "device_id": device,
        "kind": kind,
        "home_id": "h1",
        "device_type": "environment_sensor",
        "change": change,
        "started_at": start,
        "changed_at": changed,
        "resolved_at": changed if change == "resolve" else None,
        "value": 60.0,
        "peak": 80.0,
        "threshold": 50.0,
        "event_id": None,
        "bucket": None,
        "batch": batch,
        "recorded_at": changed,
    }


def test_open_critical_episodes_show_in_a_banner_on_every_page_and_the_alerts_page_lists_all(app_env: Path) -> None:
    settings = make_settings(LAKE_ROOT=app_env)
    fx.quarantine_lake(settings)
    start = datetime.now(UTC) - timedelta(minutes=3)
    path = Path(tables.ALERT_EPISODES.path(settings))
    rows = [
        episode_change(
            "e1",
            "open",
            device="d1",
            kind="high_co",
            severity="critical",
            start=start,
            changed=start + timedelta(seconds=5),
            batch=1,
        ),
        episode_change(
            "e2",
            "open",
            device="d2",
            kind="high_power",
            severity="critical",
            start=start,
            changed=start + timedelta(seconds=5),
            batch=1,
        ),
        episode_change(
            "e2",
            "resolve",
            device="d2",
            kind="high_power",
            severity="critical",
            start=start,
            changed=start + timedelta(seconds=65),
            batch=2,
        ),
    ]
    delta_io.write(path, pl.DataFrame(rows, schema=tables.ALERT_EPISODES.schema))
    for name in ("overview", "devices", "alerts", "pipeline"):
        banners = [e.value for e in run_app(f"views/{name}.py", errors_expected=True).error]
        assert len(banners) == 1 and banners[0].startswith("1 open critical alert: **d1** high co since"), name
    listed = table_with(run_app("views/alerts.py", errors_expected=True), "state", "duration_s")
    assert listed.sort_values("device_id")[["device_id", "state"]].values.tolist() == [
        ["d1", "open"],
        ["d2", "resolved"],
    ]
    assert listed.set_index("device_id").loc["d2", "duration_s"] == 65.0
    assert listed.set_index("device_id").loc["d1", "duration_s"] >= 180.0
    delta_io.write(
        path,
        pl.DataFrame(
            [
                episode_change(
                    "e1",
                    "resolve",
                    device="d1",
                    kind="high_co",
                    severity="critical",
                    start=start,
                    changed=datetime.now(UTC),
                    batch=3,
                )
            ],
            schema=tables.ALERT_EPISODES.schema,
        ),
    )
    assert not page("overview").error  # resolved: the banner is gone
