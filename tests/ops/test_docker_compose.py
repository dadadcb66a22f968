"""docker-compose.yml cannot run here (no Docker engine); check that it agrees with the settings defaults."""

import re

import yaml

from config.settings import Settings
from tests.conftest import REPO


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _listeners(value: str) -> dict[str, str]:
    return dict(item.split("://", 1) for item in value.split(","))


def test_kafka_host_listener_matches_default_bootstrap():
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    host, port = Settings().bootstrap_host_port
    assert kafka["ports"] == [f"127.0.0.1:{port}:{port}"]  # loopback only
    assert env["CLUSTER_ID"].startswith("${KAFKA_CLUSTER_ID:?")  # unique per installation, never hard-coded
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert advertised["HOST"] == f"{host}:{port}"
    assert _listeners(env["KAFKA_LISTENERS"])["HOST"].endswith(f":{port}")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # only ensure_topic creates topics, with its settings


def test_kafka_image_is_the_version_the_local_broker_runs():
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{Settings().kafka_version}"


def test_every_listener_has_a_protocol_and_controller_is_not_advertised():
    env = compose()["services"]["kafka"]["environment"]
    names = {item.split(":")[0] for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")}
    assert set(_listeners(env["KAFKA_LISTENERS"])) == names
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in names
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in names
    assert "CONTROLLER" not in _listeners(env["KAFKA_ADVERTISED_LISTENERS"])


def test_kafka_ui_points_at_the_internal_listener():
    services = compose()["services"]
    internal = _listeners(services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])["INTERNAL"]
    ui = services["kafka-ui"]
    assert ui["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == internal
    assert ui["ports"] == ["127.0.0.1:8080:8080"]
    assert ui["image"].startswith("kafbat/kafka-ui:v")  # pinned
    assert ui["environment"]["KAFKA_CLUSTERS_0_READONLY"] == "true"
    assert ui["environment"]["DYNAMIC_CONFIG_ENABLED"] == "false"
    assert ui["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "kafka-data" in compose()["volumes"]


def test_object_store_is_optional_loopback_only_and_never_open():
    store = compose()["services"]["object-store"]
    settings = Settings()
    assert store["profiles"] == ["object-store"]  # `docker compose up -d` (start.sh) leaves it alone
    assert store["ports"] == [f"127.0.0.1:{settings.object_store_port}:{settings.object_store_port}"]
    assert re.fullmatch(r"chrislusf/seaweedfs:\d+\.\d+", store["image"])  # pinned, the server built without Docker
    command = store["command"]
    assert command[0] == "server" and f"-s3.port={settings.object_store_port}" in command
    assert "-master.telemetry=false" in command
    # credentials come from `scripts/object_store.sh env`; never a required variable (it would break `up` for
    # every service, profiles or not) and never hard-coded
    assert store["environment"] == {
        "AWS_ACCESS_KEY_ID": "${AWS_ACCESS_KEY_ID:-}",
        "AWS_SECRET_ACCESS_KEY": "${AWS_SECRET_ACCESS_KEY:-}",
    }
    guard = store["entrypoint"][2]
    assert 'test -n "$$AWS_ACCESS_KEY_ID" -a -n "$$AWS_SECRET_ACCESS_KEY"' in guard and "exit 2" in guard
    assert "object-store-data" in compose()["volumes"]
