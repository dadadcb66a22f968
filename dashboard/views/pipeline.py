"""The Pipeline page (registered by dashboard/app.py with st.navigation)."""

from dashboard import pipeline
from dashboard.controls import run_page

run_page(pipeline.render, needs_gold=False)
