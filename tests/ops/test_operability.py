"""A newcomer's path: start.sh from a clean clone, status healthy, gold filling up, stop.sh leaves nothing behind."""

import ipaddress
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from config.settings import Settings
from lake import delta_io
from ops import stack
from ops.local_kafka import free_port
from tests.conftest import REPO
from tests.kafka_helpers import wait_for

pytestmark = pytest.mark.e2e


def _processes_in(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        try:
            if process.info["cwd"] and Path(process.info["cwd"]).is_relative_to(folder):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _loopback(ip: str) -> bool:
    """127.0.0.1, ::1, or 127.0.0.1 as an IPv4-mapped IPv6 address (how the JVM binds a loopback listener)."""
    address = ipaddress.ip_address(ip)
    return address.is_loopback or bool(getattr(address, "ipv4_mapped", None) and address.ipv4_mapped.is_loopback)


def test_start_status_stop_from_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")  # installing requirements is proven by CI's own fresh clone
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "lib").symlink_to(REPO / ".kafka" / "lib")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "DASHBOARD_PORT": str(free_port()),
        "KAFKA_HOME": str(tmp_path / "kafka"),
        "SILVER_INTERVAL_S": "2",
        "GOLD_INTERVAL_S": "3",
        "BRONZE_FLUSH_SECONDS": "1",
    }
    env.pop("LAKE_ROOT", None)
    try:
        start = subprocess.run(["./start.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert start.returncode == 0, start.stdout + start.stderr
        assert "Dashboard: http://localhost:" in start.stdout

        def healthy():
            status = subprocess.run(["scripts/status.sh"], cwd=clone, env=env, capture_output=True, text=True)
            return status.returncode == 0 and status.stdout

        report = wait_for(healthy, timeout_s=120, what="status.sh to report every component healthy", interval_s=1)
        for component in ("kafka", "ingest", "sentinel", "scheduler", "dashboard", "producer", "topic"):
            assert f"OK  {component}" in report
        ours = {p.pid for p in _processes_in(clone) + _processes_in(tmp_path / "kafka")}
        listening = [
            c.laddr for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ours
        ]
        assert listening and all(_loopback(addr.ip) for addr in listening), listening
        gold = clone / "data" / "gold" / "daily_energy_consumption"
        wait_for(
            lambda: delta_io.open_table(gold) is not None and len(delta_io.read(gold)) > 0,
            timeout_s=180,
            what="rows in gold",
        )
        again = subprocess.run(["./start.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and again.stdout.count("already running") == len(stack.components(Settings()))
    finally:
        stop = subprocess.run(["./stop.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=180)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert _processes_in(clone) == []
    assert _processes_in(tmp_path / "kafka") == []
