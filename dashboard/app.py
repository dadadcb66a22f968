"""Smart-home lakehouse dashboard: `python -m streamlit run dashboard/app.py` from the repo root."""

from __future__ import annotations

import streamlit as st

from config.errors import LakehouseError
from config.settings import Settings
from dashboard import data, episodes
from dashboard.controls import remember, sidebar

PAGES = (
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/devices.py", "Devices", ":material/devices:"),
    ("views/alerts.py", "Alerts", ":material/notifications:"),
    ("views/pipeline.py", "Pipeline", ":material/lan:"),
    ("views/kafka.py", "Kafka", ":material/stream:"),
)


def main() -> None:
    st.set_page_config(page_title="Smart Home Lakehouse", page_icon=":material/home:", layout="wide")
    try:
        settings = Settings.from_env()
    except LakehouseError as exc:
        st.error(f"The dashboard's settings are not valid: {exc}")
        return
    st.title("Smart Home Lakehouse")
    remember(settings, sidebar(settings) if data.gold_exists(settings) else None)
    episodes.banner(settings)
    st.navigation(
        [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    ).run()


main()
