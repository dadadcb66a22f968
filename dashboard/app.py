"""Smart-home lakehouse dashboard: `python -m streamlit run dashboard/app.py` from the repo root."""

from __future__ import annotations

import streamlit as st

from config.settings import Settings

st.set_page_config(page_title="Smart Home Lakehouse", page_icon="🏠", layout="wide")

settings = Settings.from_env()
gold = settings.lake_root / "gold"
st.title("Smart Home Lakehouse")
if not any(gold.glob("*/_delta_log")):
    st.info(f"No data yet: the lake at `{settings.lake_root}` has no gold tables. "
            "Start the pipeline with `./start.sh` (producer → Kafka → bronze → silver → gold) and this page fills in.")
