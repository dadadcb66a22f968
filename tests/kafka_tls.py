"""A throwaway certificate authority for TLS tests, made with the openssl CLI: a CA, certificates it signs for
127.0.0.1/localhost (broker) or a client, as PEM files Kafka and kafka-python read."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class ScratchCA:
    """A CA in `folder`: `cert` (PEM) and its key; `issue` signs a new key pair."""

    folder: Path
    name: str

    @classmethod
    def create(cls, folder: Path, name: str = "test-ca") -> ScratchCA:
        folder.mkdir(parents=True, exist_ok=True)
        ca = cls(folder, name)
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", ca.key, "-out", ca.cert,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return ca

    @property
    def cert(self) -> Path:
        return self.folder / f"{self.name}.pem"

    @property
    def key(self) -> Path:
        return self.folder / f"{self.name}.key"

    def issue(self, name: str, *, server: bool) -> tuple[Path, Path]:
        """A certificate for `name` signed by this CA and its unencrypted PKCS#8 key: (cert, key). A server
        certificate names 127.0.0.1 and localhost (the client checks the host name)."""
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        usage = "serverAuth" if server else "clientAuth"
        san = ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"] if server else []
        _openssl(
            "req", "-x509", "-CA", self.cert, "-CAkey", self.key, "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", key, "-out", cert,
            "-addext", "basicConstraints=CA:FALSE", "-addext", f"extendedKeyUsage={usage}", *san,
        )  # fmt: skip
        return cert, key

    def keystore(self, name: str) -> Path:
        """A PEM key store for a server: its private key and certificate chain in one file (Kafka's PEM type)."""
        cert, key = self.issue(name, server=True)
        store = self.folder / f"{name}.keystore.pem"
        store.write_text(key.read_text() + cert.read_text() + self.cert.read_text())
        return store
