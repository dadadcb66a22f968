"""A real Apache Kafka node without Docker: jars from Maven Central, KRaft (broker and controller) on loopback.

One `LocalKafka` is one node: alone it is the quick start's single-node cluster; ops/kafka_cluster.py runs N of
them as one cluster (each node a voter of the static controller quorum). Layout under `home` (git-ignored):
`lib/<version>/` the broker jars, `broker-<port>/` a node's config, data, log (`server.log`) and pid file (under
`state_home` instead, when given). Data survives stop/start; a node killed with SIGKILL recovers on start.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from config.errors import LocalKafkaError
from ops.kafka_listener import ClientListener
from ops.processes import pid_alive, terminate

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "kafka"
HEAP_OPTS = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")
QUORUM_FILE = "quorum.voters"  # the voters a node was formatted for: a different quorum later is refused

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
log.dirs={data_dir}
auto.create.topics.enable=false
offsets.topic.replication.factor={internal_rf}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={internal_rf}
transaction.state.log.min.isr={internal_min_isr}
share.coordinator.state.topic.replication.factor={internal_rf}
share.coordinator.state.topic.min.isr={internal_min_isr}
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
    """One KRaft node (broker + controller) on loopback; alone by default, or a voter among `voters`."""

    home: Path
    version: str
    port: int = 9092
    controller_port: int | None = None
    host: str = "127.0.0.1"
    state_home: Path | None = None
    node_id: int = 1
    voters: str | None = None  # controller.quorum.voters; None: this node alone
    heap_opts: str = HEAP_OPTS
    listener: ClientListener | None = None

    @property
    def quorum(self) -> str:
        return self.voters or f"{self.node_id}@{self.host}:{self.controller_port or self.port + 1}"

    @property
    def replication_port(self) -> int:
        """The PLAINTEXT port other nodes replicate from (the client port unless a secured listener is used)."""
        return self.port if self.listener is None else self.listener.internal_port

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
            *self.heap_opts.split(),
            "-cp",
            f"{self.lib_dir}/*",
            f"-Dlog4j2.configurationFile={CONFIG_DIR / 'log4j2.yaml'}",
            *args,
        ]

    def _listeners(self, controller_port: int) -> str:
        if self.listener is not None:
            return self.listener.properties(host=self.host, port=self.port, controller_port=controller_port)
        return (
            f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "inter.broker.listener.name=PLAINTEXT\n"
        )

    def cluster_id(self) -> str | None:
        """The cluster id this node's storage was formatted with (None before the first start)."""
        try:
            meta = (self.state_dir / "data" / "meta.properties").read_text()
        except OSError:
            return None
        return next((line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id=")), None)

    def _configure(self, cluster_id: str | None) -> Path:
        properties = self.state_dir / "server.properties"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        voters = len(self.quorum.split(","))
        properties.write_text(
            SERVER_PROPERTIES.format(
                node_id=self.node_id,
                voters=self.quorum,
                data_dir=(self.state_dir / "data").resolve(),
                internal_rf=min(3, voters),
                internal_min_isr=min(2, voters),
            )
            + self._listeners(self.controller_port or self.port + 1)
        )
        formatted = self.state_dir / QUORUM_FILE
        if self.cluster_id() is not None:
            before = formatted.read_text().strip() if formatted.exists() else self.quorum
            if before != self.quorum:
                raise LocalKafkaError(
                    f"{self.state_dir} belongs to a cluster with voters {before}, not {self.quorum}: stop Kafka "
                    f"and remove its broker-* folders to change KAFKA_LOCAL_BROKERS or the ports (topics are lost)"
                )
            return properties
        cluster_id = cluster_id or new_cluster_id()
        # `--cluster-id=ID` in one argument: an id may start with "-", which a separate argument would not survive
        extra = self.listener.format_args() if self.listener is not None else []
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "--config", str(properties), *extra
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting KRaft storage failed: {(result.stdout + result.stderr).strip()[-300:]}")
        formatted.write_text(self.quorum + "\n")
        logger.info("formatted KRaft storage in %s (cluster %s)", self.state_dir / "data", cluster_id)
        return properties

    def launch(self, *, cluster_id: str | None = None) -> subprocess.Popen | None:
        """Format once and start the node's JVM without waiting; None when it was already running."""
        if self.running():
            return None
        self.install()
        for port in {self.port, self.controller_port or self.port + 1, self.replication_port}:
            if port_open(self.host, port):
                raise LocalKafkaError(
                    f"port {port} on {self.host} is taken by another program: stop it, "
                    "or choose another port with KAFKA_BOOTSTRAP_SERVERS"
                )
        properties = self._configure(cluster_id)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                self._java("kafka.Kafka", str(properties)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        return process

    def await_port(self, process: subprocess.Popen, *, deadline: float) -> None:
        """Wait until the launched node accepts connections; LocalKafkaError when it exits or `deadline` passes."""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalKafkaError(f"the broker exited with code {process.returncode}; see {self.log_file}")
            if port_open(self.host, self.port):
                logger.info("Kafka %s is up at %s (pid %d)", self.version, self.bootstrap, process.pid)
                return
            time.sleep(0.2)
        self.stop()
        raise LocalKafkaError(f"the broker did not accept connections in time; see {self.log_file}")

    def start(self, *, timeout_s: float = 90.0, cluster_id: str | None = None) -> bool:
        """Start the node and wait until it accepts connections; False when it was already running."""
        process = self.launch(cluster_id=cluster_id)
        if process is None:
            return False
        self.await_port(process, deadline=time.monotonic() + timeout_s)
        return True

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout_s`; False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, timeout_s=timeout_s, marker="kafka.Kafka")
        self.pid_file.unlink(missing_ok=True)
        return True
