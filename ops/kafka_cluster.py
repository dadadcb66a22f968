"""N local KRaft nodes as one replicated cluster (`KAFKA_LOCAL_BROKERS`; 1 is the quick start's single node).

Every node is broker and controller ("combined" mode) and a voter of one static quorum
(`controller.quorum.voters`): three nodes tolerate the loss of one, for the metadata quorum and, with
replication factor 3 and min.insync.replicas 2, for the topics too; three JVMs instead of six on a laptop.
Node i (from 0) listens on client port `base + 2i` and controller port `base + 2i + 1` unless the ports are
given; each keeps its own `broker-<port>/` folder, formatted once with the cluster's shared id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from config.errors import ConfigError, LocalKafkaError
from config.settings import Settings
from ops.local_kafka import HEAP_OPTS, LocalKafka, free_port, new_cluster_id

logger = logging.getLogger(__name__)


def default_heap(nodes: int) -> str:
    """JVM heap options per node: KAFKA_HEAP_OPTS when set, else 1 GB alone (HEAP_OPTS) or 512 MB each in a
    cluster."""
    return HEAP_OPTS if nodes == 1 or "KAFKA_HEAP_OPTS" in os.environ else "-Xms128m -Xmx512m"


@dataclass(frozen=True)
class LocalKafkaCluster:
    """The local nodes of one cluster, started, stopped and reported together."""

    nodes: tuple[LocalKafka, ...]

    @classmethod
    def on_ports(
        cls,
        *,
        home: Path,
        version: str,
        ports: Sequence[tuple[int, int]],
        state_home: Path | None = None,
        heap_opts: str | None = None,
    ) -> LocalKafkaCluster:
        """Nodes 1..N on the given (client port, controller port) pairs of 127.0.0.1."""
        flat = [port for pair in ports for port in pair]
        if len(set(flat)) != len(flat):
            raise ConfigError(f"the local Kafka nodes need distinct ports, got {ports}: list other ports")
        voters = ",".join(f"{i}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(ports, start=1))
        return cls(
            tuple(
                LocalKafka(
                    home=home,
                    version=version,
                    port=port,
                    controller_port=controller,
                    state_home=state_home,
                    node_id=i,
                    voters=voters if len(ports) > 1 else None,
                    heap_opts=heap_opts or default_heap(len(ports)),
                )
                for i, (port, controller) in enumerate(ports, start=1)
            )
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> LocalKafkaCluster:
        """The nodes that serve the configured bootstrap servers (they bind loopback whatever the hosts say)."""
        count, servers = settings.kafka_local_brokers, settings.bootstrap_servers
        if any(host not in ("localhost", "127.0.0.1") for host, _ in servers):
            logger.warning("KAFKA_BOOTSTRAP_SERVERS points elsewhere than localhost; the local nodes bind 127.0.0.1")
        if len(servers) >= count:
            ports = [port for _, port in servers[:count]]
        elif len(servers) == 1:
            ports = [servers[0][1] + 2 * i for i in range(count)]
        else:
            raise ConfigError(
                f"KAFKA_BOOTSTRAP_SERVERS lists {len(servers)} servers for KAFKA_LOCAL_BROKERS={count}: "
                f"list one (the nodes take every second port from it) or all {count}"
            )
        return cls.on_ports(
            home=settings.kafka_home, version=settings.kafka_version, ports=[(port, port + 1) for port in ports]
        )

    @property
    def bootstrap(self) -> str:
        """Every node's client address: what KAFKA_BOOTSTRAP_SERVERS should list."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def version(self) -> str:
        return self.nodes[0].version

    def pids(self) -> list[int | None]:
        return [node.pid() for node in self.nodes]

    def running(self) -> bool:
        return any(pid is not None for pid in self.pids())

    def _cluster_id(self) -> str | None:
        ids = {node.cluster_id() for node in self.nodes} - {None}
        if len(ids) > 1:
            raise LocalKafkaError(
                f"the local Kafka nodes were formatted for different clusters ({', '.join(sorted(ids))}): "
                "stop Kafka and remove their broker-* folders (topics are lost)"
            )
        return next(iter(ids), None)

    def start(self, *, timeout_s: float = 120.0) -> int:
        """Start every node that is not running and wait until all of them serve; how many were started."""
        cluster_id = self._cluster_id() or new_cluster_id()
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:  # each format is a JVM: in parallel
            futures = [(node, pool.submit(node.launch, cluster_id=cluster_id)) for node in self.nodes]
        errors = [future.exception() for _, future in futures if future.exception() is not None]
        launched = [(node, future.result()) for node, future in futures if future.exception() is None]
        launched = [(node, process) for node, process in launched if process is not None]
        deadline = time.monotonic() + timeout_s
        try:
            if errors:
                raise errors[0]
            for node, process in launched:
                node.await_port(process, deadline=deadline)
            if len(self.nodes) > 1:
                self._await_brokers(deadline)
        except BaseException:
            for node, _ in launched:  # what this call started, not the nodes that were already serving
                node.stop()
            raise
        return len(launched)

    def _await_brokers(self, deadline: float) -> None:
        """Wait until every node is a registered, unfenced broker (a topic with RF = N can be created then)."""
        servers = [f"{node.host}:{node.replication_port}" for node in self.nodes]
        registered = 0
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
                try:
                    registered = len(admin.describe_cluster()["brokers"])
                finally:
                    admin.close()
            except KafkaError:
                registered = 0
            if registered == len(self.nodes):
                return
            time.sleep(0.5)
        raise LocalKafkaError(
            f"only {registered} of {len(self.nodes)} Kafka nodes joined the cluster in time; see their server.log"
        )

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Stop every node at once (SIGTERM, then SIGKILL); False when none was running. At once: the last node
        of a quorum stopped alone would wait for a majority that is gone."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            return any(list(pool.map(lambda node: node.stop(timeout_s=timeout_s), self.nodes)))


@contextlib.contextmanager
def temporary_cluster(
    *, home: Path, version: str, nodes: int = 1, heap_opts: str | None = None
) -> Iterator[LocalKafkaCluster]:
    """A throwaway cluster on free ports with its data in a temporary folder (tests, benchmarks)."""
    with tempfile.TemporaryDirectory(prefix="kafka-") as state:
        cluster = LocalKafkaCluster.on_ports(
            home=home,
            version=version,
            ports=[(free_port(), free_port()) for _ in range(nodes)],
            state_home=Path(state),
            heap_opts=heap_opts,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
