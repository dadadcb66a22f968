"""Clients against a secured broker: a SASL_SSL listener (TLS with a CA the test makes, client certificates
required, SCRAM-SHA-512 users created when the storage is formatted). The project's producer and bronze ingest
work through it; a wrong password and an untrusted CA are each one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.kafka_io import end_offsets, ensure_topic, group_lag
from config.errors import BrokerUnavailableError
from config.settings import Settings
from ops.kafka_listener import ClientListener
from ops.local_kafka import LocalKafka, free_port
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import bronze_count, env_of, start_module, wait_for
from tests.kafka_tls import ScratchCA

pytestmark = pytest.mark.integration

USER, PASSWORD = "lakehouse", "scram-pw-0123"


@dataclass(frozen=True)
class Secured:
    broker: LocalKafka
    ca: ScratchCA
    client_cert: Path
    client_key: Path

    def settings(self, lake: Path, *, password: str = PASSWORD, cafile: Path | None = None) -> Settings:
        return make_settings(
            KAFKA_BOOTSTRAP_SERVERS=f"localhost:{self.broker.port}",  # the host name the certificate names
            KAFKA_SECURITY_PROTOCOL="SASL_SSL",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
            KAFKA_SASL_USERNAME=USER,
            KAFKA_SASL_PASSWORD=password,
            KAFKA_SSL_CAFILE=cafile or self.ca.cert,
            KAFKA_SSL_CERTFILE=self.client_cert,
            KAFKA_SSL_KEYFILE=self.client_key,
            LAKE_ROOT=lake,
            TELEMETRY_TOPIC="secured.telemetry",
            TELEMETRY_PARTITIONS=3,
        )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured-kafka")
    ca = ScratchCA.create(folder / "ca")
    listener = ClientListener(
        protocol="SASL_SSL",
        internal_port=free_port(),
        keystore=ca.keystore("broker"),
        truststore=ca.cert,
        client_auth=True,
        scram_users=((USER, PASSWORD),),
    )
    broker = LocalKafka(
        home=REPO / ".kafka",
        version=make_settings().kafka_version,
        port=free_port(),
        controller_port=free_port(),
        state_home=folder,
        listener=listener,
        heap_opts="-Xms64m -Xmx256m",
    )
    broker.start()
    try:
        yield Secured(broker, ca, *ca.issue("client", server=False))
    finally:
        broker.stop()


def _run(settings: Settings, module: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[bytes]:
    """`python -m module args` against the secured broker, to its end (at most `timeout_s`)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env_of(settings), capture_output=True, timeout=timeout_s
    )


def test_producer_and_bronze_ingest_round_trip_over_sasl_ssl(secured, tmp_path):
    settings = secured.settings(tmp_path / "lake")
    assert ensure_topic(settings) is True
    produced = _run(settings, "producer.telemetry_sim", "--events", "300")
    assert produced.returncode == 0, produced.stderr.decode()[-2000:]
    total = sum(end_offsets(settings, settings.telemetry_topic).values())
    assert total >= 300
    ingest = start_module("consumer.bronze", settings, log=tmp_path / "ingest.log", BRONZE_FLUSH_SECONDS="0.5")
    try:
        wait_for(lambda: bronze_count(settings) == total, timeout_s=120, what="bronze to hold every record")
        wait_for(
            lambda: all(
                p.lag == 0 for p in group_lag(settings, settings.telemetry_topic, settings.bronze_consumer_group)
            ),
            timeout_s=60,
            what="the group's lag to reach 0",
        )
    finally:
        ingest.terminate()
        ingest.wait(timeout=60)
    assert "Traceback" not in (tmp_path / "ingest.log").read_text()


def test_a_wrong_password_is_one_line(secured, tmp_path):
    settings = secured.settings(tmp_path / "lake", password="not-the-password")
    with pytest.raises(BrokerUnavailableError, match=r"could not log in as 'lakehouse' with SCRAM-SHA-512") as caught:
        ensure_topic(settings)
    assert "\n" not in str(caught.value) and "not-the-password" not in str(caught.value)


def test_an_untrusted_ca_is_one_line_from_the_producer(secured, tmp_path):
    stranger = ScratchCA.create(tmp_path / "other", "other-ca")
    settings = secured.settings(tmp_path / "lake", cafile=stranger.cert)
    done = _run(settings, "producer.telemetry_sim", "--events", "10", timeout_s=60)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, lines
    assert lines[0].startswith("error: TLS handshake with localhost:")
    assert "self-signed certificate in certificate chain" in lines[0] and "KAFKA_SSL_CAFILE" in lines[0]


@pytest.mark.parametrize("wrong", ["password", "ca"])
def test_the_ingest_stops_with_one_line_on_refused_credentials(secured, tmp_path, wrong):
    """Refused credentials do not heal by waiting: the ingest says why and exits instead of retrying for ever."""
    if wrong == "password":
        settings = secured.settings(tmp_path / "lake", password="not-the-password")
    else:
        settings = secured.settings(tmp_path / "lake", cafile=ScratchCA.create(tmp_path / "other", "other-ca").cert)
    done = _run(settings, "consumer.bronze")
    stderr = done.stderr.decode()
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert ("could not log in" if wrong == "password" else "TLS handshake") in errors[0]
