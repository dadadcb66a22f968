"""`python -m consumer.bronze`: see consumer/bronze/ingest.py."""

from common.cli import run
from consumer.bronze.ingest import main

run(main)
