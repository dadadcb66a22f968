import os
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import Settings, env_names


def test_defaults_work_out_of_the_box():
    s = Settings.from_env({}, dotenv=None)
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert s.telemetry_topic == "smart_home.telemetry"
    assert s.telemetry_partitions == 6
    assert s.lake_root.local == Path("data") and s.state_root == Path("data")
    assert s.bootstrap_host_port == ("localhost", 9092)


def test_environment_overrides_and_types():
    s = Settings.from_env(
        {"TELEMETRY_PARTITIONS": "12", "TARIFF_PER_KWH": "0.25", "LOG_LEVEL": "debug", "LAKE_ROOT": "/tmp/lake"},
        dotenv=None,
    )
    assert (s.telemetry_partitions, s.tariff_per_kwh, s.log_level, s.lake_root.local) == (
        12,
        0.25,
        "DEBUG",
        Path("/tmp/lake"),
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TELEMETRY_PARTITIONS", "abc", "TELEMETRY_PARTITIONS='abc' is not valid: expected an integer 1..1000"),
        ("TELEMETRY_PARTITIONS", "0", "TELEMETRY_PARTITIONS='0' is not valid: expected an integer 1..1000"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not valid: expected one of DEBUG, INFO, WARNING, ERROR"),
        ("TARIFF_PER_KWH", "-1", "TARIFF_PER_KWH='-1' is not valid: expected a number >= 0.0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "nohostport", "KAFKA_BOOTSTRAP_SERVERS='nohostport' is not valid"),
    ],
)
def test_bad_value_names_variable_and_accepted_values(name, value, expected):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value}, dotenv=None)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nTELEMETRY_TOPIC=from.dotenv\nexport TELEMETRY_PARTITIONS='3'\n")
    s = Settings.from_env({"TELEMETRY_PARTITIONS": "4"}, dotenv=dotenv)
    assert (s.telemetry_topic, s.telemetry_partitions) == ("from.dotenv", 4)


def test_secrets_are_masked_when_printed():
    s = Settings.from_env({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "hunter2"}, dotenv=None)
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert ("KAFKA_SASL_PASSWORD", "****") in [(env, value) for env, value, _ in s.describe()]


def test_settings_are_frozen():
    s = Settings()
    with pytest.raises(AttributeError):
        s.telemetry_topic = "x"  # type: ignore[misc]


def test_env_example_documents_every_setting():
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    assert set(env_names()) <= documented


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEMETRY_TOPIC", "smart home/telemetry"),
        ("TELEMETRY_TOPIC", ".."),
        ("TELEMETRY_TOPIC", "t" * 250),
        ("BRONZE_CONSUMER_GROUP", "bronze:ingest"),
    ],
)
def test_kafka_names_with_invalid_characters_are_refused(name, value):
    with pytest.raises(ConfigError, match=rf"^{name}=.* is not valid: expected 1 to 249 of the characters"):
        Settings.from_env({name: value}, dotenv=None)


def test_lake_root_must_be_a_writable_folder_or_creatable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        Settings.from_env({"LAKE_ROOT": str(tmp_path / "file")}, dotenv=None)
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        Settings.from_env({"LAKE_ROOT": str(tmp_path / "file" / "lake")}, dotenv=None)
    missing = Settings.from_env({"LAKE_ROOT": str(tmp_path / "not" / "yet")}, dotenv=None)  # the first writer makes it
    assert missing.lake_root.local == tmp_path / "not" / "yet" and not missing.lake_root.exists()


@pytest.mark.skipif(
    not os.access("/proc/sys", os.F_OK) or os.access("/proc/sys", os.W_OK),
    reason="needs a folder this user cannot write (/proc/sys on Linux, even for root)",
)
def test_lake_root_that_is_not_writable_is_refused():
    with pytest.raises(ConfigError, match="LAKE_ROOT='/proc/sys' is not valid: it is not writable"):
        Settings.from_env({"LAKE_ROOT": "/proc/sys"}, dotenv=None)
    with pytest.raises(ConfigError, match=r"cannot be created in /proc/sys \(not writable\)"):
        Settings.from_env({"LAKE_ROOT": "/proc/sys/lake"}, dotenv=None)


def test_a_lake_root_url_of_another_scheme_is_refused():
    """Path('gs://b/x') would quietly be a local folder named 'gs:'; the lake must not land there."""
    with pytest.raises(
        ConfigError, match=r"LAKE_ROOT='gs://lakehouse/lake' is not valid: expected a local folder or s3"
    ):
        Settings.from_env({"LAKE_ROOT": "gs://lakehouse/lake"}, dotenv=None)
