"""A real Apache Kafka broker without Docker: jars from Maven Central, single-node KRaft on loopback.

Layout under `home` (git-ignored): `lib/<version>/` the broker jars, `broker-<port>/` its config, data,
log (`server.log`) and pid file (under `state_home` instead, when given). Data survives stop/start; a broker killed with SIGKILL recovers on start.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from config.errors import LocalKafkaError
from config.settings import Settings
from ops.processes import pid_alive, terminate

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "kafka"
HEAP_OPTS = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
message.max.bytes=10485760
"""


def new_cluster_id() -> str:
    """A fresh KRaft cluster id: a random UUID in URL-safe base64, as Kafka's own `random-uuid` makes them."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True, kw_only=True)
class LocalKafka:
    """One single-node KRaft broker (broker + controller) on loopback."""

    home: Path
    version: str
    port: int = 9092
    controller_port: int | None = None
    host: str = "127.0.0.1"
    state_home: Path | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> LocalKafka:
        """The broker that serves the configured bootstrap port (it binds loopback whatever the host says)."""
        host, port = settings.bootstrap_host_port
        if host not in ("localhost", "127.0.0.1"):
            logger.warning("KAFKA_BOOTSTRAP_SERVERS points at %s; the local broker binds 127.0.0.1", host)
        return cls(home=settings.kafka_home, version=settings.kafka_version, port=port)

    @property
    def lib_dir(self) -> Path:
        return (self.home / "lib" / self.version).resolve()

    @property
    def state_dir(self) -> Path:
        return (self.state_home or self.home) / f"broker-{self.port}"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def install(self) -> Path:
        """Fetch the broker jars with Maven into the cache, once; the folder of jars."""
        marker = self.lib_dir / ".complete"
        if marker.exists():
            return self.lib_dir
        for tool, package in (
            ("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"),
            ("mvn", "Maven (apt-get install maven)"),
        ):
            if shutil.which(tool) is None:
                raise LocalKafkaError(f"'{tool}' not found: install {package} to run Kafka without Docker")
        logger.info("fetching Apache Kafka %s from Maven Central into %s (once)", self.version, self.lib_dir)
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(CONFIG_DIR / "pom.xml"),
                "dependency:copy-dependencies",
                f"-Dkafka.version={self.version}",
                f"-DoutputDirectory={self.lib_dir}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise LocalKafkaError(f"Maven could not fetch Kafka {self.version}: {' | '.join(tail)}")
        if not any(self.lib_dir.glob("kafka_2.13-*.jar")):
            raise LocalKafkaError(f"Maven ran but no Kafka jars landed in {self.lib_dir}; remove it and retry")
        marker.touch()
        return self.lib_dir

    def pid(self) -> int | None:
        """Pid of the running broker, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, marker="kafka.Kafka") else None

    def running(self) -> bool:
        return self.pid() is not None

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            *HEAP_OPTS.split(),
            "-cp",
            f"{self.lib_dir}/*",
            f"-Dlog4j2.configurationFile={CONFIG_DIR / 'log4j2.yaml'}",
            *args,
        ]

    def _configure(self) -> Path:
        controller_port = self.controller_port or self.port + 1
        properties = self.state_dir / "server.properties"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        properties.write_text(
            SERVER_PROPERTIES.format(
                host=self.host,
                port=self.port,
                controller_port=controller_port,
                data_dir=(self.state_dir / "data").resolve(),
            )
        )
        if not (self.state_dir / "data" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            # `--cluster-id=ID` in one argument: an id may start with "-", which a separate argument would not survive
            result = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "--config", str(properties)
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise LocalKafkaError(
                    f"formatting KRaft storage failed: {(result.stdout + result.stderr).strip()[-300:]}"
                )
            logger.info("formatted KRaft storage in %s (cluster %s)", self.state_dir / "data", cluster_id)
        return properties

    def start(self, *, timeout_s: float = 90.0) -> bool:
        """Start the broker and wait until it accepts connections; False when it was already running."""
        if self.running():
            return False
        self.install()
        controller_port = self.controller_port or self.port + 1
        for port in (self.port, controller_port):
            if port_open(self.host, port):
                raise LocalKafkaError(
                    f"port {port} on {self.host} is taken by another program: stop it, "
                    "or choose another port with KAFKA_BOOTSTRAP_SERVERS"
                )
        properties = self._configure()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                self._java("kafka.Kafka", str(properties)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalKafkaError(f"the broker exited with code {process.returncode}; see {self.log_file}")
            if port_open(self.host, self.port):
                logger.info("Kafka %s is up at %s (pid %d)", self.version, self.bootstrap, process.pid)
                return True
            time.sleep(0.2)
        self.stop()
        raise LocalKafkaError(f"the broker did not accept connections within {timeout_s:.0f}s; see {self.log_file}")

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout_s`; False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, timeout_s=timeout_s, marker="kafka.Kafka")
        self.pid_file.unlink(missing_ok=True)
        return True


@contextlib.contextmanager
def temporary_broker(*, home: Path, version: str) -> Iterator[LocalKafka]:
    """A throwaway broker on free ports with its data in a temporary folder (tests, benchmarks)."""
    with tempfile.TemporaryDirectory(prefix="kafka-") as state:
        broker = LocalKafka(
            home=home, version=version, port=free_port(), controller_port=free_port(), state_home=Path(state)
        )
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
