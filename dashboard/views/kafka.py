"""The Kafka page (registered by dashboard/app.py with st.navigation)."""

from dashboard import kafka_page
from dashboard.controls import run_page

run_page(kafka_page.render, needs_gold=False)
