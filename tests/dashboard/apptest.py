"""Driving the dashboard with Streamlit's AppTest: run the app or one page, and read what it shows."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def run_app(page: str | None = None, *, errors_expected: bool = False) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert errors_expected or not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def table_with(at: AppTest, *columns: str):
    """The first table shown that has all these columns (AppTest does not expose a dataframe's key)."""
    for element in at.dataframe:
        value = element.value
        value = value.data if hasattr(value, "data") else value
        if set(columns) <= set(value.columns):
            return value
    raise AssertionError(f"no table with columns {columns}")


def figures(at: AppTest) -> dict[str, dict]:
    """Every plotly chart on the page as its JSON spec, by title."""
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def page(name: str) -> AppTest:
    return run_app(f"views/{name}.py")
