"""Run Apache Kafka locally without Docker, one node or KAFKA_LOCAL_BROKERS nodes as one cluster:
`python -m scripts.kafka_local start|stop|status`."""

from __future__ import annotations

import argparse
import logging

from common.cli import run, setup_logging
from config.settings import Settings
from ops.kafka_cluster import LocalKafkaCluster

logger = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka_local.sh", description=__doc__)
    parser.add_argument(
        "action",
        choices=["install", "start", "stop", "status"],
        help="install: fetch the jars; start: install, format once, start and wait; "
        "stop: SIGTERM then SIGKILL; status: each node running or not (exit 1 unless all run)",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    cluster = LocalKafkaCluster.for_settings(settings)
    if args.action == "install":
        print(f"Kafka {cluster.version} jars in {cluster.nodes[0].install()}")
    elif args.action == "start":
        started = cluster.start()
        print(f"Kafka {cluster.version}: {started} of {len(cluster.nodes)} node(s) started at {cluster.bootstrap}")
        _print_nodes(cluster)
        if len(settings.bootstrap_servers) < len(cluster.nodes):
            print(f"clients bootstrap from any node with KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}")
    elif args.action == "stop":
        print("Kafka stopped" if cluster.stop() else "Kafka was not running")
    else:
        running = _print_nodes(cluster)
        return 0 if running == len(cluster.nodes) else 1
    return 0


def _print_nodes(cluster: LocalKafkaCluster) -> int:
    """One line per node; how many run."""
    running = 0
    for node in cluster.nodes:
        pid = node.pid()
        running += pid is not None
        state = f"running (pid {pid})" if pid else "not running"
        print(f"Kafka node {node.node_id} at {node.bootstrap}: {state}, log {node.log_file}")
    return running


if __name__ == "__main__":
    run(main)
