"""Every malformed replay file or mapping: the CLI prints one `error:` line naming the file, line or key and what
was expected, exits 2, and touches neither the broker nor the lake (validation comes first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of

CSV = "time,unit,kind,watts,state\n2025-10-25 23:50:00,p1,plug,100,ok\n2025-10-26 00:10:00,p1,plug,?,ok\n"
MAPPING = """
[time]
column = "time"
format = "iso"
timezone = "Europe/Berlin"
[device]
column = "unit"
home_id = "h1"
device_type = { column = "kind", values = { plug = "smart_plug" } }
[metrics.smart_plug]
power_w = { column = "watts" }
[status]
column = "state"
values = { ok = "online" }
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


CASES = [  # (csv, mapping, what the one line must say)
    ("time,unit,kind,watts,state\n", MAPPING, "has a header but no data rows"),
    ("", MAPPING, "is empty"),
    (
        CSV,
        edit(MAPPING, '"iso"', '"%d/%m/%Y %H:%M"'),
        "line 2, column 'time': '2025-10-25 23:50:00' is not a time in the format '%d/%m/%Y %H:%M'",
    ),
    (
        CSV,
        edit(MAPPING, '"iso"', '"epoch_s"'),
        "line 2, column 'time': '2025-10-25 23:50:00' is not epoch_s (a number)",
    ),
    (
        edit(edit(CSV, "2025-10-25 23:50:00", "1761429000000"), "2025-10-26 00:10:00", "1761430200000"),
        edit(MAPPING, '"iso"', '"epoch_s"'),
        "line 2, column 'time': '1761429000000' is not a time between 1980 and 2100 as epoch_s",
    ),
    (
        edit(CSV, "2025-10-26 00:10:00", "2025-10-26T00:10:00+02:00"),
        MAPPING,
        "line 2, column 'time': "
        "'2025-10-25 23:50:00' is not an ISO time with a UTC offset like line 3 (mixed naive and offset times",
    ),
    (
        edit(CSV, "23:50:00", "25:50:00"),
        MAPPING,
        "line 2, column 'time': '2025-10-25 25:50:00' is not an ISO-8601 time",
    ),
    (
        edit(CSV, ",p1,plug,?,ok", ",p1,plug,,ok"),
        edit(MAPPING, "[time]", '[file]\nmissing = ["?"]\n[time]'),
        "line 3, column 'watts': '' is not a finite number",
    ),
    (edit(CSV, "?", "1.2.3"), MAPPING, "line 3, column 'watts': '1.2.3' is not a finite number"),
    (edit(CSV, "?", "inf"), MAPPING, "line 3, column 'watts': 'inf' is not a finite number"),
    (edit(CSV, "plug,?", "toaster,?"), MAPPING, "line 3, column 'kind': 'toaster' is not a device type"),
    (
        edit(CSV, "?,ok", "?,sleepy"),
        MAPPING,
        "line 3, column 'state': 'sleepy' is not a status (online, maintenance, error)",
    ),
    (edit(CSV, ",p1,plug,?", ",,plug,?"), MAPPING, "line 3, column 'unit': None is not a device id (it is missing)"),
    (
        CSV + "2025-10-26 00:20:00,p1,bulb,5,ok\n",
        edit(MAPPING, "plug = ", 'bulb = "smart_bulb", plug = '),
        "line 4: device 'p1' has device_type 'smart_bulb' here but another earlier; expected one device_type per device",
    ),
    (
        CSV + "2025-10-26 00:30:00,p1,plug,1,ok,extra\n",
        MAPPING,
        "cannot be read as CSV (found more fields than defined in 'Schema')",
    ),
    (edit(CSV, "ok\n", "ök\n").encode("latin-1"), MAPPING, 'is not UTF-8 text (set file.encoding, e.g. "latin-1")'),
    (edit(CSV, "watts", "wats"), MAPPING, "column 'watts' (mapped in"),
    (CSV, edit(MAPPING, "[time]", "[time"), "cannot be read (Expected ']'"),
    (CSV, edit(MAPPING, '"Europe/Berlin"', '"Mars/Olympus"'), "time.timezone 'Mars/Olympus' is not an IANA time zone"),
    (CSV, edit(MAPPING, 'column = "unit"', 'column = "unit"\nid = "p1"'), "set exactly one of device.column"),
    (
        CSV,
        edit(MAPPING, "power_w =", "humidity_pct ="),
        "[metrics.smart_plug] 'humidity_pct': a smart_plug does not measure it",
    ),
    (CSV, edit(MAPPING, "[metrics.smart_plug]", "[metrics.toaster]"), "[metrics] 'toaster' is neither a metric"),
    (
        CSV,
        edit(MAPPING, '{ column = "watts" }', '{ column = "watts", kind = "meter" }'),
        "metrics.smart_plug.power_w.kind 'meter': only energy_wh has a kind",
    ),
    (CSV, edit(MAPPING, 'values = { ok = "online" }', 'values = { ok = "fine" }'), "status: 'fine' is not one of"),
    (
        CSV,
        edit(MAPPING, 'plug = "smart_plug"', 'plug = "toaster"'),
        "device.device_type 'toaster' is not a device type",
    ),
    (CSV, edit(MAPPING, 'home_id = "h1"', 'homeid = "h1"'), "device.homeid is not a device field"),
    (CSV, edit(MAPPING, "[status]", "[sttus]"), "unknown section(s) ['sttus']"),
    (CSV, edit(MAPPING, 'column = "time"', "column = []"), "time.column must name a CSV column, or a list"),
    (CSV, edit(MAPPING, 'home_id = "h1"', 'home_id = "h1"\nlatitude = "north"'), "device.latitude must be a number"),
    (
        CSV,
        edit(MAPPING, 'home_id = "h1"', 'home_id = "h1"\ninstallation_date = "last year"'),
        "device.installation_date must be a date as YYYY-MM-DD, got 'last year'",
    ),
    (
        edit(CSV, "state\n", "state,since\n").replace(",ok\n", ",ok,someday\n"),
        edit(MAPPING, 'home_id = "h1"', 'home_id = "h1"\ninstallation_date = { column = "since" }'),
        "line 2, column 'since': 'someday' is not a date as YYYY-MM-DD",
    ),
]


@pytest.mark.parametrize(("csv", "mapping", "message"), CASES)
def test_a_malformed_file_or_mapping_is_one_line_and_exit_2(
    tmp_path: Path, csv: str | bytes, mapping: str, message: str
) -> None:
    (tmp_path / "data.csv").write_bytes(csv if isinstance(csv, bytes) else csv.encode())
    (tmp_path / "map.toml").write_text(mapping, encoding="utf-8")
    settings = make_settings(LAKE_ROOT=tmp_path / "lake", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9")  # nobody listens
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "producer.telemetry_sim",
            "--replay",
            str(tmp_path / "data.csv"),
            "--replay-config",
            str(tmp_path / "map.toml"),
            "--speed",
            "0",
        ],
        cwd=REPO,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (2, 1), done.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert str(tmp_path / "data.csv") in lines[0] or str(tmp_path / "map.toml") in lines[0]
    assert not (tmp_path / "lake").exists()
