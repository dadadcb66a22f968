"""The Alerts page (registered by dashboard/app.py with st.navigation)."""

from dashboard import alerts_view
from dashboard.controls import run_page

run_page(alerts_view.render)
