"""Kafka replication and security settings: what the clients get, and every bad combination as one line."""

import pytest

from common.kafka_io import client_config
from config.errors import ConfigError
from tests.conftest import make_settings


@pytest.fixture
def pem(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_defaults_are_plaintext_and_a_sasl_user_alone_keeps_meaning_sasl_plain():
    assert client_config(make_settings())["security_protocol"] == "PLAINTEXT"
    config = client_config(make_settings(KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p"))
    assert config["security_protocol"] == "SASL_PLAINTEXT" and config["sasl_mechanism"] == "PLAIN"


def test_sasl_ssl_with_scram_and_a_client_certificate(pem):
    settings = make_settings(
        KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="lakehouse",
        KAFKA_SASL_PASSWORD="s3cret-pw",
        KAFKA_SSL_CAFILE=pem,
        KAFKA_SSL_CERTFILE=pem,
        KAFKA_SSL_KEYFILE=pem,
        KAFKA_SSL_KEY_PASSWORD="key-pw",
    )
    config = client_config(settings)
    assert config["security_protocol"] == "SASL_SSL" and config["ssl_check_hostname"] is True
    assert config["sasl_mechanism"] == "SCRAM-SHA-512" and config["sasl_plain_password"] == "s3cret-pw"
    assert (config["ssl_cafile"], config["ssl_certfile"], config["ssl_password"]) == (str(pem), str(pem), "key-pw")
    assert "s3cret-pw" not in repr(settings) and "key-pw" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, r"^KAFKA_SECURITY_PROTOCOL=SSL needs KAFKA_SSL_CAFILE"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            r"^KAFKA_SSL_CAFILE='/nonexistent/ca.pem' is not a file",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SSL_CAFILE": "{pem}",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "KAFKA_SASL_USERNAME": "u",
            },
            r"^KAFKA_SECURITY_PROTOCOL=SASL_SSL with SCRAM-SHA-256 needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
        ),
        ({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, r"does not use it: use SASL_SSL or SASL_PLAINTEXT"),
        ({"KAFKA_SSL_CAFILE": "{pem}"}, r"^KAFKA_SSL_\* are set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "{pem}", "KAFKA_SSL_CERTFILE": "{pem}"},
            r"^KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, r"^KAFKA_SECURITY_PROTOCOL='TLS' is not valid: expected empty or one of"),
        ({"KAFKA_REPLICATION_FACTOR": "2", "KAFKA_MIN_INSYNC_REPLICAS": "3"}, r"^KAFKA_MIN_INSYNC_REPLICAS=3 exceeds"),
    ],
)
def test_bad_combinations_are_one_line_errors(env, message, pem):
    with pytest.raises(ConfigError, match=message) as caught:
        make_settings(**{key: value.format(pem=pem) for key, value in env.items()})
    assert "\n" not in str(caught.value)


def test_a_wrong_password_never_shows_in_the_error():
    with pytest.raises(ConfigError) as caught:
        make_settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="hunter2")
    assert "hunter2" not in str(caught.value)
