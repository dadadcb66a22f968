"""Every entry point starts: `--help` imports it, parses, prints usage and exits 0."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

MODULES = [
    "producer.telemetry_sim", "consumer.bronze", "consumer.silver", "consumer.gold",
    "consumer.maintenance", "consumer.scheduler", "scripts.kafka_local", "scripts.stack", "scripts.status",
    "scripts.topic_admin", "scripts.benchmark",
]
SHELL = ["start.sh", "stop.sh", "scripts/status.sh", "scripts/kafka_local.sh"]


@pytest.mark.parametrize("module", MODULES)
def test_module_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    assert result.stderr == ""


@pytest.mark.parametrize("script", SHELL)
def test_shell_script_help(script):
    result = subprocess.run([str(REPO / script), "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_bad_setting_is_one_line_and_exit_2():
    result = subprocess.run([sys.executable, "-m", "scripts.status"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "TELEMETRY_PARTITIONS": "zero"})
    assert result.returncode == 2
    assert result.stderr == ("error: TELEMETRY_PARTITIONS='zero' is not valid: expected an integer 1..1000 "
                             "(partitions of the telemetry topic when created)\n")
