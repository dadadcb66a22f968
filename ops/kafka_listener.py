"""A secured client listener for a local Kafka node (TLS and/or SASL SCRAM): the broker side of the security
settings the clients get from common/kafka_io.client_config, used by the tests that prove those settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class ClientListener:
    """A secured client listener (TLS and/or SASL) instead of PLAINTEXT; replication then runs on a PLAINTEXT
    listener of its own on `internal_port`. PEM stores: `keystore` holds the node's PKCS#8 private key and its
    certificate chain, `truststore` the CA that signs client certificates (with `client_auth`). SCRAM users are
    created when the storage is formatted."""

    protocol: str  # SSL, SASL_SSL or SASL_PLAINTEXT
    internal_port: int
    keystore: Path | None = None
    truststore: Path | None = None
    client_auth: bool = False
    scram_mechanism: str = "SCRAM-SHA-512"
    scram_users: tuple[tuple[str, str], ...] = ()

    def properties(self, *, host: str, port: int, controller_port: int) -> str:
        lines = [
            f"listeners=CLIENT://{host}:{port},INTERNAL://{host}:{self.internal_port},"
            f"CONTROLLER://{host}:{controller_port}",
            f"advertised.listeners=CLIENT://{host}:{port},INTERNAL://{host}:{self.internal_port}",
            f"listener.security.protocol.map=CLIENT:{self.protocol},INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=INTERNAL",
        ]
        for kind, store in (("keystore", self.keystore), ("truststore", self.truststore)):
            if store is not None:
                lines += [
                    f"listener.name.client.ssl.{kind}.type=PEM",
                    f"listener.name.client.ssl.{kind}.location={store}",
                ]
        if self.client_auth:
            lines.append("listener.name.client.ssl.client.auth=required")
        if self.protocol.startswith("SASL"):
            lines += [
                f"listener.name.client.sasl.enabled.mechanisms={self.scram_mechanism}",
                f"listener.name.client.{self.scram_mechanism.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        return "\n".join(lines) + "\n"

    def format_args(self) -> list[str]:
        return [
            f"--add-scram={self.scram_mechanism}=[name={user},password={password}]"
            for user, password in self.scram_users
        ]
