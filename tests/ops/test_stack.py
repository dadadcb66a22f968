"""The stack's bookkeeping without starting it: a busy port stops start.sh at once, each lake has its own processes."""

import os
import socket
import subprocess

from ops import stack
from tests.conftest import REPO, make_settings


def test_start_with_the_dashboard_port_taken_names_the_port_and_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "LAKE_ROOT": str(tmp_path / "lake"),
            "DASHBOARD_PORT": str(port),
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        }
        result = subprocess.run(["./start.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: dashboard cannot start: port {port} is taken by another program; stop it, or set DASHBOARD_PORT "
        "to a free port"
    )
    assert "started" not in result.stdout  # nothing was started


def test_each_lake_has_its_own_pid_files_and_logs(tmp_path):
    default = stack.components(make_settings())
    other = stack.components(make_settings(LAKE_ROOT=tmp_path / "lake"))
    assert default[0].run_dir == stack.RUN_DIR / "data" and default[0].log_dir == stack.LOG_DIR / "data"
    assert other[0].run_dir != default[0].run_dir and other[0].run_dir.name.startswith("lake-")
    assert stack.stack_name(make_settings(LAKE_ROOT=REPO / "data")) == "data"


def test_the_dashboard_listens_on_loopback_unless_a_setting_opens_it():
    def argv(**env):
        return next(p for p in stack.components(make_settings(**env)) if p.name == "dashboard").argv

    assert argv()[argv().index("--server.address") + 1] == "127.0.0.1"
    opened = argv(DASHBOARD_ADDRESS="0.0.0.0")
    assert opened[opened.index("--server.address") + 1] == "0.0.0.0"


def test_the_stack_runs_the_sentinel():
    sentinel = next(p for p in stack.components(make_settings()) if p.name == "sentinel")
    assert sentinel.argv[1:] == ["-m", "consumer.sentinel"]
