"""Smart-home lakehouse dashboard: `python -m streamlit run dashboard/app.py` from the repo root."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from common.errors import LakehouseError
from config.settings import Settings
from dashboard import data, overview
from dashboard.controls import Filters, guarded, no_data, sidebar

st.set_page_config(page_title="Smart Home Lakehouse", page_icon="🏠", layout="wide")


def _page(render: Callable[[Settings, Filters], None], settings: Settings, filters: Filters | None,
          *, needs_gold: bool = True) -> Callable[[], None]:
    """A page that re-renders itself every `refresh_s` seconds (only its own body, not the whole app)."""

    def page() -> None:
        if needs_gold and (filters is None or not data.gold_exists(settings)):
            no_data(f"the lake at `{settings.lake_root}` has no gold tables")
            return

        @st.fragment(run_every=filters.refresh_s if filters else settings.dashboard_refresh_s)
        def body() -> None:
            guarded(lambda: render(settings, filters))  # type: ignore[arg-type]

        body()

    page.__name__ = render.__module__.rsplit(".", 1)[-1]
    return page


def main() -> None:
    try:
        settings = Settings.from_env()
    except LakehouseError as exc:
        st.error(f"The dashboard's settings are not valid: {exc}")
        return
    st.title("🏠 Smart Home Lakehouse")
    filters = sidebar(settings) if data.gold_exists(settings) else None
    pages = [st.Page(_page(overview.render, settings, filters), title="Overview", icon="📊", url_path="overview",
                     default=True)]
    st.navigation(pages).run()


main()
