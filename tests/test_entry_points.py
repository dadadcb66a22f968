"""Every entry point starts: `--help` imports it, parses, prints usage and exits 0."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

MODULES = [
    "producer.telemetry_sim",
    "consumer.bronze",
    "consumer.sentinel",
    "consumer.silver",
    "consumer.gold",
    "consumer.maintenance",
    "consumer.bronze.gaps",
    "consumer.bronze.reingest",
    "lake.repair",
    "consumer.scheduler",
    "scripts.kafka_local",
    "scripts.stack",
    "scripts.status",
    "scripts.topic_admin",
    "scripts.benchmark",
    "scripts.object_store",
    "scripts.spark_reader",
]
SHELL = [
    "start.sh",
    "stop.sh",
    "scripts/status.sh",
    "scripts/kafka_local.sh",
    "scripts/object_store.sh",
    "scripts/spark_reader.sh",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_help(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    assert result.stderr == ""


@pytest.mark.parametrize("script", SHELL)
def test_shell_script_help(script):
    result = subprocess.run([str(REPO / script), "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_bad_setting_is_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TELEMETRY_PARTITIONS": "zero"},
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: TELEMETRY_PARTITIONS='zero' is not valid: expected an integer 1..1000 "
        "(partitions of the telemetry topic when created)\n"
    )


def test_the_console_script_runs_every_command(tmp_path):
    """`pip install -e .` (scripts/setup.sh) installs `lakehouse`; each command is its module's program."""
    lakehouse = Path(sys.executable).parent / "lakehouse"
    assert lakehouse.exists(), "the project is not installed: run scripts/setup.sh (pip install -e .)"
    listed = subprocess.run([str(lakehouse), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "commands:" in listed.stdout
    for command in ("silver", "status"):
        result = subprocess.run(
            [str(lakehouse), command, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr
    unknown = subprocess.run([str(lakehouse), "nope"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown command 'nope'")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TELEMETRY_TOPIC": "bad topic!"},
            "error: TELEMETRY_TOPIC='bad topic!' is not valid: expected 1 to 249 of the "
            "characters a-z A-Z 0-9 . _ - (and not '.' or '..'); change it in the "
            "environment or .env\n",
        ),
        (
            {"LAKE_ROOT": "README.md"},
            "error: LAKE_ROOT='README.md' is not valid: README.md is a file, not a folder; "
            "point LAKE_ROOT at a folder (it is created when missing)\n",
        ),
    ],
)
@pytest.mark.parametrize("module", ["consumer.bronze", "consumer.silver", "consumer.scheduler"])
def test_bad_topic_or_lake_root_is_one_line_and_exit_2(module, env, expected):
    result = subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert (result.returncode, result.stderr) == (2, expected)
