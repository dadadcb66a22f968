"""The Overview page (registered by dashboard/app.py with st.navigation)."""

from dashboard import overview
from dashboard.controls import run_page

run_page(overview.render)
