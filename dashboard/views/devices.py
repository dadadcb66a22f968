"""The Devices page (registered by dashboard/app.py with st.navigation)."""

from dashboard import devices
from dashboard.controls import run_page

run_page(devices.render)
