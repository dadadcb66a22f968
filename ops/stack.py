"""The whole platform as a set of background processes: Kafka (Docker or local), ingest, scheduler, dashboard, producer."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal

from common.kafka_io import broker_reachable, ensure_topic
from config.errors import BrokerUnavailableError, LakehouseError
from config.settings import Settings
from ops.kafka_cluster import LocalKafkaCluster
from ops.local_kafka import new_cluster_id, port_open
from ops.processes import Listen, ManagedProcess

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = REPO / "run"
LOG_DIR = REPO / "logs"
KafkaMode = Literal["docker", "local"]


def stack_name(settings: Settings) -> str:
    """The name of the stack on this lake: its pid files are in run/<name>/, its logs in logs/<name>/.

    `data` for the default lake; another lake gets its folder's (or S3 prefix's) name and a short hash of its full
    path (or URI), so two stacks on two lakes never see each other's processes.
    """
    lake = settings.lake_root
    if lake.local is None:
        full, name = lake.uri, lake.name
    else:
        root = lake.local.expanduser()
        resolved = (root if root.is_absolute() else REPO / root).resolve()
        if resolved == (REPO / "data").resolve():
            return "data"
        full, name = str(resolved), resolved.name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "lake"
    return f"{slug}-{hashlib.sha1(full.encode()).hexdigest()[:8]}"


def docker_available() -> bool:
    """True when a Docker engine answers and `docker compose` exists."""
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
        compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0 and compose.returncode == 0


def kafka_mode() -> KafkaMode | None:
    """How start.sh ran Kafka last time (None when it did not)."""
    try:
        return Path(RUN_DIR / "kafka.mode").read_text().strip()  # type: ignore[return-value]
    except OSError:
        return None


def start_kafka(settings: Settings, *, timeout_s: float = 120.0) -> str:
    """Start Kafka (Docker when an engine answers, else the local broker) and wait until it answers."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if broker_reachable(settings, timeout_s=2.0):
        return f"Kafka already answering at {settings.kafka_bootstrap_servers}"
    if docker_available():
        subprocess.run(
            ["docker", "compose", "up", "-d"],
            cwd=REPO,
            check=True,
            env={**os.environ, "KAFKA_CLUSTER_ID": _docker_cluster_id()},
        )
        (RUN_DIR / "kafka.mode").write_text("docker")
        what = "Kafka (Docker) and Kafka UI at http://localhost:8080"
    else:
        LocalKafkaCluster.for_settings(settings).start(timeout_s=timeout_s)
        (RUN_DIR / "kafka.mode").write_text("local")
        nodes = settings.kafka_local_brokers
        what = f"Kafka {settings.kafka_version} (local, no Docker{f', {nodes} nodes' if nodes > 1 else ''})"
    deadline = time.monotonic() + timeout_s
    while not broker_reachable(settings):
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(f"Kafka did not answer within {timeout_s:.0f}s; see logs")
        time.sleep(0.2)
    return f"{what} at {settings.kafka_bootstrap_servers}"


def _docker_cluster_id() -> str:
    """The Docker broker's KRaft cluster id: generated on the first start, kept in run/ (its data volume keeps it)."""
    saved = RUN_DIR / "kafka.cluster_id"
    if not saved.exists():
        saved.write_text(new_cluster_id())
    return saved.read_text().strip()


def stop_kafka(settings: Settings) -> str:
    """Stop the Kafka that start_kafka started."""
    if kafka_mode() == "docker":
        subprocess.run(
            ["docker", "compose", "stop"],
            cwd=REPO,
            check=False,
            env={**os.environ, "KAFKA_CLUSTER_ID": _docker_cluster_id()},
        )
        return "Kafka (Docker) stopped"
    return "Kafka stopped" if LocalKafkaCluster.for_settings(settings).stop() else "Kafka was not running"


def _dashboard_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def components(settings: Settings) -> list[ManagedProcess]:
    """The pipeline's processes in start order."""
    python = sys.executable
    port, address = settings.dashboard_port, settings.dashboard_address
    candidates = [
        ("ingest", [python, "-m", "consumer.bronze"], None, None),
        ("sentinel", [python, "-m", "consumer.sentinel"], None, None),
        ("scheduler", [python, "-m", "consumer.scheduler"], None, None),
        (
            "dashboard",
            [
                python,
                "-m",
                "streamlit",
                "run",
                str(REPO / "dashboard" / "app.py"),
                "--server.headless",
                "true",
                "--server.address",
                address,
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
            ],
            lambda: _dashboard_ready(port),
            Listen(port, "DASHBOARD_PORT"),
        ),
        ("producer", [python, "-m", "producer.telemetry_sim"], None, None),
    ]
    name = stack_name(settings)
    return [
        ManagedProcess(
            name=component,
            argv=argv,
            run_dir=RUN_DIR / name,
            log_dir=LOG_DIR / name,
            cwd=REPO,
            ready=ready,
            listens=listens,
        )
        for component, argv, ready, listens in candidates
    ]


def preflight(settings: Settings) -> None:
    """Before anything starts: every port a component will listen on is free (or already ours)."""
    for process in components(settings):
        if process.listens is not None and process.pid() is None and port_open("127.0.0.1", process.listens.port):
            raise LakehouseError(
                f"{process.name} cannot start: port {process.listens.port} is taken by another "
                f"program; stop it, or set {process.listens.setting} to a free port"
            )


def start_all(settings: Settings) -> list[str]:
    """Start Kafka, the topic and every component; one line per thing started."""
    preflight(settings)
    lines = [start_kafka(settings)]
    created = ensure_topic(settings)
    lines.append(f"topic {settings.telemetry_topic} {'created' if created else 'exists'}")
    for process in components(settings):
        started = process.start()
        lines.append(
            f"{process.name:<10} {'started' if started else 'already running'} "
            f"(pid {process.pid()}, log {process.log_file.relative_to(REPO)})"
        )
    return lines


def stop_all(settings: Settings) -> list[str]:
    """Stop every component (producer first), then Kafka."""
    lines = []
    for process in reversed(components(settings)):
        lines.append(f"{process.name:<10} {'stopped' if process.stop() else 'was not running'}")
    lines.append(stop_kafka(settings))
    return lines
