"""Real-browser smoke test: the dashboard served by `streamlit run`, opened in headless Chromium over DevTools."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import REPO, make_settings
from tests.dashboard import fixtures as fx
from tests.kafka_helpers import wait_for

pytestmark = pytest.mark.browser
REFRESH_S = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A lake with alerts and quarantine."""
    root = tmp_path / "lake"
    fx.quarantine_lake(make_settings(LAKE_ROOT=root))
    return root


@contextlib.contextmanager
def _dashboard(tmp_path: Path, lake: Path) -> Iterator[str]:
    """`python -m streamlit run dashboard/app.py` on a free port, refreshing every second."""
    port = _free_port()
    env = {
        **os.environ,
        "LAKE_ROOT": str(lake),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DASHBOARD_REFRESH_S": str(REFRESH_S),
    }
    with (tmp_path / "streamlit.log").open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard/app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/_stcore/health"), timeout_s=30, what="streamlit health")
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def dashboard_url(tmp_path: Path, lake: Path) -> Iterator[str]:
    with _dashboard(tmp_path, lake) as url:
        yield url


class DevTools:
    """Just enough of the Chrome DevTools protocol: send a command, get its result."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.next_id = ws, 0

    def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression)["result"].get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    """Headless Chromium with remote debugging on a free port, one blank tab."""
    chromium = shutil.which("chromium")
    assert chromium, "the browser test needs Debian's chromium: apt-get install -y chromium (scripts/test.sh does)"
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1400,1600",
            "--hide-scrollbars",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (profile / "DevToolsActivePort").is_file(), timeout_s=30, what="chromium DevTools port")
        port = (profile / "DevToolsActivePort").read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            tab = next(t for t in json.load(response) if t["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _kpi(lines: list[str], label: str) -> str:
    """The value under a KPI card's label ("" while the card is not on the page)."""
    return lines[lines.index(label) + 1] if label in lines[:-1] else ""


def _page_lines(browser: DevTools) -> list[str]:
    return [line.strip() for line in browser.text().splitlines() if line.strip()]


def test_overview_kpis_in_headless_chromium(dashboard_url: str, browser: DevTools, lake: Path, tmp_path: Path) -> None:
    browser.call("Page.enable")
    browser.call("Page.navigate", url=dashboard_url)
    wait_for(
        lambda: {"Energy (kWh)", "Active devices"} <= set(_page_lines(browser)), timeout_s=45, what="the KPI cards"
    )
    text = browser.text()
    plots = "document.querySelectorAll('.js-plotly-plot .main-svg').length"
    wait_for(lambda: browser.evaluate(plots) >= 5, timeout_s=30, what="the Overview's plotly charts to draw")
    artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = browser.call("Page.captureScreenshot", format="png")
    (artifacts / "dashboard_overview.png").write_bytes(base64.b64decode(shot["data"]))
    lines = _page_lines(browser)
    shown = tuple(_kpi(lines, label) for label in ("Energy (kWh)", "Cost (EUR)", "Active devices"))
    assert shown == ("8.00", "2.40", "3")
    assert "Traceback" not in text
    assert (artifacts / "dashboard_overview.png").stat().st_size > 10_000
    # a gold run commits more energy for today: the page refreshes itself, no reload
    extra = [{**fx.energy_rows()[-1], "device_id": "d5", "energy_kwh": 2.0, "readings": 10}]
    fx.write_gold(make_settings(LAKE_ROOT=lake), "daily_energy_consumption", extra)
    wait_for(
        lambda: _kpi(_page_lines(browser), "Energy (kWh)") == "10.00",
        timeout_s=10 * REFRESH_S,
        what="the auto-refresh to show the new energy",
    )


def test_a_page_opened_on_an_empty_lake_fills_in_when_gold_arrives(browser: DevTools, tmp_path: Path) -> None:
    lake = tmp_path / "empty-lake"
    with _dashboard(tmp_path, lake) as url:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        wait_for(lambda: "No data yet" in browser.text(), timeout_s=45, what="the empty-lake message")
        fx.normal_lake(make_settings(LAKE_ROOT=lake))  # the first gold commits, while the page stays open
        wait_for(
            lambda: _kpi(_page_lines(browser), "Energy (kWh)") != "",
            timeout_s=2 * REFRESH_S + 8,
            what="the page to fill in by itself within two refresh intervals (no reload)",
        )
        assert "No data yet" not in browser.text()
